#!/bin/sh
# tests/integration/layering.sh SRC — the house's rooms stay apart: nothing in
# coordinator/ includes a header of worker/ (the coordinator farms any task and
# reads records through jobs/record.h), and jobs/ and util/ include neither.
# Fails naming each offending line.
src=${1:?usage: layering.sh SRC}
cd "$src" || exit 1
worker_h=$(find worker -name '*.h' -exec basename {} \; | sort -u)
bad=0
for room in coordinator jobs util; do
    for h in $worker_h; do
        hits=$(grep -n "#include \"$h\"" "$room"/*.c "$room"/*.h 2>/dev/null)
        if [ -n "$hits" ]; then
            echo "FAIL: $room/ includes worker/'s $h:"
            echo "$hits"
            bad=1
        fi
    done
done
[ $bad -eq 0 ] && echo "ok: coordinator/, jobs/ and util/ include nothing from worker/ ($(echo $worker_h | wc -w) headers checked)"
exit $bad
