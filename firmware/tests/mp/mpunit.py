# Minimal unit-test runner that runs inside MicroPython.
# Usage: micropython -X heapsize=100k mpunit.py test_module [test_name ...]
# Prints one line per test: "PASS name" or "FAIL name: reason", then "SUMMARY p f".
import sys
import gc


def _run(mod, names):
    passed = 0
    failed = 0
    for name in names:
        fn = getattr(mod, name)
        gc.collect()
        try:
            fn()
        except Exception as e:  # report every failure, keep going
            failed += 1
            print("FAIL " + name + ": " + repr(e))
            sys.print_exception(e)
        else:
            passed += 1
            print("PASS " + name)
    return passed, failed


def main(argv):
    modname = argv[1]
    if modname.endswith(".py"):
        modname = modname[:-3]
    modname = modname.split("/")[-1]
    mod = __import__(modname)
    names = argv[2:]
    if not names:
        names = sorted(n for n in dir(mod) if n.startswith("test_"))
    p, f = _run(mod, names)
    print("SUMMARY %d %d" % (p, f))
    sys.exit(1 if f else 0)


main(sys.argv)
