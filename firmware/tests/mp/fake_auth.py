# Small stand-in for auth.LocalList / auth.AuthCache (docs/interfaces.md §1.4) for the ocpp16 unit
# tests (see fake_config.py for why).


class LocalList:
    def __init__(self, path='auth.json'):
        self.version = 0
        self.tags = {}

    def lookup(self, tag):
        return self.tags.get(tag)

    def update(self, version, entries, full):
        if not full and version <= self.version:
            return 'VersionMismatch'
        if full:
            self.tags = {}
        for e in entries:
            if e.get('idTagInfo') is None:
                self.tags.pop(e['idTag'], None)
            else:
                self.tags[e['idTag']] = e['idTagInfo']
        self.version = version
        return 'Accepted'


class AuthCache:
    def __init__(self, path='authcache.json'):
        self.tags = {}

    def lookup(self, tag):
        return self.tags.get(tag)

    def put(self, tag, info):
        self.tags[tag] = info

    def clear(self):
        self.tags = {}
