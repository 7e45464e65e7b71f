#!/bin/sh
# tests/integration/layering.sh SRC — the house's rooms stay apart: nothing in
# coordinator/ includes a header of worker/ (the coordinator farms any task and
# reads records through jobs/record.h), and jobs/ and util/ include neither;
# nothing below the commands (worker/, train/, coordinator/, jobs/, util/)
# includes a header of src/. Fails naming each offending line.
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
src_h=$(find src -name '*.h' -exec basename {} \; | sort -u)
for room in worker worker/methods worker/metrics worker/datasets worker/torch train coordinator jobs util; do
    for h in $src_h; do
        hits=$(grep -n "#include \"$h\"" "$room"/*.c "$room"/*.h "$room"/*.cpp 2>/dev/null)
        if [ -n "$hits" ]; then
            echo "FAIL: $room/ includes src/'s $h (the commands call the rooms, not the other way):"
            echo "$hits"
            bad=1
        fi
    done
done
[ $bad -eq 0 ] && echo "ok: coordinator/, jobs/ and util/ include nothing from worker/ ($(echo $worker_h | wc -w) headers checked); nothing below src/ includes its $(echo $src_h | wc -w) headers"
exit $bad
