# Process-level power-cut test for the journal (driven by test_journal_hypothesis.py).
# usage: micropython journal_crash_run.py PATH CAPACITY N K FIRST COUNT
#   N > 0 arms the station.json crash hook {"journal_write": N, "bytes": K}: the process prints
#   CRASHPOINT and hangs, and the test kills it with SIGKILL. Records are named "rec FIRST" on.
#   COUNT = 0 only prints the records.
# Prints "APPENDED seq i" once an append returned and "REMOVED seq" once a removal returned;
# "REMOVING seq" / the data "rec i" name the operation that may be in flight at the cut.
import sys
import json
import journal


def main(argv):
    path = argv[1]
    cap = int(argv[2])
    n = int(argv[3])
    k = int(argv[4])
    first = int(argv[5])
    count = int(argv[6])
    j = journal.Journal(path, cap, {"journal_write": n, "bytes": k} if n > 0 else None)
    j.open()
    if count == 0:
        print(json.dumps([[r[0], r[1], r[2]] for r in j.records()]))
        print("DROPPED", j.dropped)
        return
    prev = None
    for i in range(first, first + count):
        kind = "M" if i % 4 == 3 else ("S" if i % 4 == 0 else "T")
        seq = j.append(kind, "rec %d" % i, kind == "M")
        print("APPENDED", seq, i)
        if i % 3 == 2 and prev is not None:
            print("REMOVING", prev)
            j.remove(prev)
            print("REMOVED", prev)
        prev = seq
    print("DONE")


main(sys.argv)
