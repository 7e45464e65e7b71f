#!/bin/sh
# tools/make_cli_doc.sh RECAL > docs/cli.md — the command-line reference,
# made from the binary's own --help texts, so that it cannot drift from them
# (integration/configs checks that docs/cli.md matches).
recal=${1:?usage: make_cli_doc.sh RECAL}
echo "# Command line"
echo
echo "Every command's \`--help\`, as this version prints it (made by \`tools/make_cli_doc.sh\`)."
echo
echo '```'
"$recal" --help
echo '```'
for c in run train attribute bench submit sweep-merge report roar dataset-dump; do
    echo
    echo "## recal $c"
    echo
    echo '```'
    "$recal" "$c" --help
    echo '```'
done
