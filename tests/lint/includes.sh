#!/usr/bin/env bash
# The layering rule, checked on the sources: a service (coordinator/, hub/,
# client/, ctl/) includes only its own headers, common/'s and the generated
# protobuf headers; common/ includes only common/'s and the generated ones.
# Includes name a header by its file name alone (the Makefile's include
# paths find it), so "../" or "dir/x.h" is refused too: it would step
# around the paths. Prints one PASS or FAIL line per rule for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

# Where each project header lives: "name.h<TAB>path".
headers=$(find common coordinator hub client ctl -name '*.h' | awk -F/ '{print $NF "\t" $0}')

# check AREA ALLOWED_PREFIX... : every quoted include of every file under
# AREA must resolve to a header under one of the allowed prefixes.
bad=""
check() {
  local area=$1; shift
  local f inc where ok p
  while IFS= read -r line; do
    f=${line%%:*}
    inc=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' <<<"${line#*:}")
    [ -n "$inc" ] || continue
    case "$inc" in
      */*) bad+="$f: #include \"$inc\": name a header by its file name (include paths enforce the layers)"$'\n'; continue;;
      *.pb-c.h) continue;;
    esac
    # The same folder first (as the compiler looks), then the allowed areas.
    [ -f "$(dirname "$f")/$inc" ] && continue
    where=$(awk -F'\t' -v n="$inc" '$1 == n {print $2}' <<<"$headers")
    if [ -z "$where" ]; then
      bad+="$f: #include \"$inc\": no such header in the tree"$'\n'; continue
    fi
    ok=0
    for p in "$@"; do
      grep -q "^$p" <<<"$where" && ok=1
    done
    [ "$ok" -eq 1 ] || bad+="$f: #include \"$inc\" is $(head -n1 <<<"$where"), outside what $area may use ($*)"$'\n'
  done < <(grep -rn --include='*.c' --include='*.h' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$area" | sed 's/:[0-9]*:/:/')
}

status=0
for s in coordinator hub client ctl common; do
  bad=""
  if [ "$s" = common ]; then check common common/; else check "$s" "$s/" common/; fi
  if [ -z "$bad" ]; then
    echo "PASS includes_$s"
  else
    printf 'FAIL includes_%s: %s' "$s" "$bad"
    status=1
  fi
done
exit $status
