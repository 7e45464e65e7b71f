#!/bin/sh
# tests/integration/layering.sh SRC — the house's rooms stay apart: nothing in
# coordinator/ includes a header of worker/ (the coordinator farms any task and
# reads records through jobs/record.h), and jobs/ and util/ include neither;
# nothing below the commands (worker/, train/, torch/, coordinator/, jobs/,
# util/) includes a header of src/. torch/, the libtorch shim, is a ground
# floor like util/: it includes nothing from worker/, train/, coordinator/,
# jobs/ or src/ (util/ at most), and coordinator/, jobs/ and util/ include
# none of its headers. The compute rooms and the coordinator meet only in
# src/ (and the record contract, jobs/record.h): worker/ and train/ include
# nothing from coordinator/; train/ (SGD, data-parallel, Diff-ROAR's
# fine-tunes) sits above worker/, so no room but src/ includes its headers;
# util/ includes nothing of jobs/ or coordinator/ either.
# Fails naming each offending line.
src=${1:?usage: layering.sh SRC}
cd "$src" || exit 1
bad=0
# room_includes ROOMS HEADERS WHY: fail on every `#include "H"` of HEADERS in
# a C, C++ or header file directly inside one of ROOMS.
room_includes() {
    for room in $1; do
        for h in $2; do
            hits=$(grep -n "#include \"$h\"" "$room"/*.c "$room"/*.h "$room"/*.cpp "$room"/*.hpp 2>/dev/null)
            if [ -n "$hits" ]; then
                echo "FAIL: $room/ includes $h, a header of $3:"
                echo "$hits"
                bad=1
            fi
        done
    done
}
headers() { find "$@" -name '*.h' -exec basename {} \; 2>/dev/null | sort -u; }
worker_h=$(headers worker)
room_includes "coordinator jobs util" "$worker_h" "worker/"
src_h=$(headers src)
room_includes "worker worker/methods worker/metrics worker/datasets torch train coordinator jobs util" "$src_h" \
    "src/ (the commands call the rooms, never the other way)"
# The rooms above the shim, whose headers it must not include.
upper_h=$(headers worker train coordinator jobs src)
room_includes "torch" "$upper_h" "a room above the shim (torch/ includes util/ at most)"
torch_h=$(find torch \( -name '*.h' -o -name '*.hpp' \) -exec basename {} \; 2>/dev/null | sort -u)
if [ -z "$worker_h" ] || [ -z "$src_h" ] || [ -z "$torch_h" ]; then
    echo "FAIL: no headers found in worker/, src/ or torch/ under $src: pass the repository's root"
    exit 1
fi
room_includes "coordinator jobs util" "$torch_h" "torch/ (the libtorch shim)"
coord_h=$(headers coordinator)
room_includes "worker worker/methods worker/metrics worker/datasets train" "$coord_h" \
    "coordinator/ (a task reaches the coordinator through src/'s stage runner)"
jobs_h=$(headers jobs)
room_includes "util" "$jobs_h $coord_h" "jobs/ or coordinator/ (util/ is the ground floor)"
train_h=$(headers train)
room_includes "worker worker/methods worker/metrics worker/datasets torch coordinator jobs util" "$train_h" \
    "train/ (only the commands call the training room)"
[ $bad -eq 0 ] && echo "ok: coordinator/, jobs/ and util/ include nothing from worker/ ($(echo $worker_h | wc -w) headers checked) or torch/ ($(echo $torch_h | wc -w)); nothing below src/ includes its $(echo $src_h | wc -w) headers; torch/ includes none of the $(echo $upper_h | wc -w) headers of the rooms above it; worker/ and train/ include none of coordinator/'s $(echo $coord_h | wc -w), no room but src/ any of train/'s $(echo $train_h | wc -w)"
exit $bad
