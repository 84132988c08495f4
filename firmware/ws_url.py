# The URL of ws.WsClient, checked once when the client is built (loaded for it, lazy.py).
from ws_codec import WsError


def parse_url(url):
    """'ws://host:port/path' -> (secure, host, port, path). Raises WsError if it is not a ws URL."""
    if url.startswith("ws://"):
        secure = False
        rest = url[5:]
    elif url.startswith("wss://"):
        secure = True
        rest = url[6:]
    else:
        raise WsError("not a ws:// or wss:// URL: %s" % url)
    i = rest.find("/")
    if i < 0:
        hostport, path = rest, "/"
    else:
        hostport, path = rest[:i], rest[i:]
    port = 443 if secure else 80
    if hostport.startswith("["):  # IPv6 literal
        j = hostport.find("]")
        if j < 0:
            raise WsError("bad host in URL: %s" % url)
        host = hostport[1:j]
        tail = hostport[j + 1:]
    else:
        j = hostport.rfind(":")
        host = hostport if j < 0 else hostport[:j]
        tail = "" if j < 0 else hostport[j:]
    if tail:
        try:
            port = int(tail[1:])
        except ValueError:
            raise WsError("bad port in URL: %s" % url)
        if tail[0] != ":" or not 0 < port < 65536:
            raise WsError("bad port in URL: %s" % url)
    if not host:
        raise WsError("no host in URL: %s" % url)
    return secure, host, port, path
