# Long-lived MicroPython process that executes cases sent by CPython (hypothesis).
# Protocol on stdin/stdout, one JSON object per line:
#   in:  {"mod": "cases_rpc", "fn": "roundtrip", "args": [...]}
#   out: {"ok": true, "result": ...} or {"ok": false, "error": "..."}
import sys
import json
import gc


def main():
    mods = {}
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            req = json.loads(line)
            name = req["mod"]
            mod = mods.get(name)
            if mod is None:
                mod = __import__(name)
                mods[name] = mod
            res = getattr(mod, req["fn"])(*req.get("args", ()))
            out = {"ok": True, "result": res}
        except Exception as e:
            out = {"ok": False, "error": repr(e)}
        sys.stdout.write(json.dumps(out))
        sys.stdout.write("\n")
        gc.collect()


main()
