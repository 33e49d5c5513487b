#!/usr/bin/env bash
# Re-extract the desk's messages and merge them into every catalogue, then compile.
# Run from the repository root after changing a message; translate what is new in the
# .po files (untranslated entries show as msgstr ""), then run it again to compile.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=feedsvc/translations
.venv/bin/pybabel extract -F $T/babel.cfg -k lazy_gettext -o $T/messages.pot \
    --no-location --sort-output --omit-header .
for lang in zh_Hans; do  # English is the source language: no catalogue
    if [ -f $T/$lang/LC_MESSAGES/messages.po ]; then
        .venv/bin/pybabel update -i $T/messages.pot -d $T -l $lang --no-fuzzy-matching
    else
        .venv/bin/pybabel init -i $T/messages.pot -d $T -l $lang
    fi
done
.venv/bin/pybabel compile -d $T --statistics
