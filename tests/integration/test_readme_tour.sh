#!/usr/bin/env bash
# README.md's "A short tour", run as a new user pastes it (issue 10 #11): the
# `$ ` lines of the section's code blocks, in order, in one bash session, in a
# fresh directory laid out like the repository (deploy/ and build/bin/ of
# this tree), against the cluster that `make run` starts there
# (deploy/local/run, the script `make run` runs after building). Each
# command must succeed, and each output line the README shows must appear
# in the command's real output, in order, after normalising what differs
# from run to run (digits, hashes, runs of spaces; `…` in the README stands
# for any path). So the test fails when the README and the behaviour part.
# Prints PASS/FAIL lines for tests/run.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BIN=${JCS_BIN:-$ROOT/build/bin}
S=$(mktemp -d /tmp/jcs-tour-XXXXXX)
RUNPID=""
cleanup() {
  [ -n "$RUNPID" ] && kill -TERM "$RUNPID" 2>/dev/null && wait "$RUNPID" 2>/dev/null
  deploy/local/cluster down --dir "$S/run/cluster" >/dev/null 2>&1
  [ -n "${JCS_KEEP_TEST_DIRS:-}" ] || rm -rf "$S"
}
trap cleanup EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# ---- the README's commands and the output it shows
python3 - "$ROOT/README.md" "$S/tour" <<'EOF'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
start = text.index("## A short tour")
end = text.find("\n## ", start + 1)
section = text[start:end if end > 0 else len(text)]
steps, in_code = [], False
for line in section.split("\n"):
    if line.startswith("```"):
        in_code = not in_code
        continue
    if not in_code:
        continue
    if line.startswith("$ "):
        steps.append({"cmd": line[2:], "want": []})
    elif steps and line.strip() and line.strip() != "...":
        steps[-1]["want"].append(line)
with open(sys.argv[2] + ".json", "w") as f:
    json.dump(steps, f)

EOF
n=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$S/tour.json" 2>/dev/null)
if [ -z "$n" ] || [ "$n" -lt 10 ]; then
  fail tour_found "README.md has no tour of at least 10 commands (found '${n:-none}')"
  exit 0
fi
first=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[0]['cmd'])" "$S/tour.json")
if [ "$first" = "make run" ]; then pass tour_starts_with_make_run; else
  fail tour_starts_with_make_run "the tour's first command is '$first', not make run"; fi

# ---- a fresh directory laid out like the repository, and `make run` in it
mkdir -p "$S/build"
ln -s "$ROOT/deploy" "$S/deploy"
ln -s "$BIN" "$S/build/bin"
(cd "$S" && exec setsid deploy/local/run </dev/null >"$S/make-run.log" 2>&1) &
RUNPID=$!
for ((i = 0; i < 1200; i++)); do
  grep -q 'is running' "$S/make-run.log" 2>/dev/null && break
  kill -0 "$RUNPID" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q 'is running' "$S/make-run.log"; then
  fail make_run_for_tour "$(tail -n 20 "$S/make-run.log")"
  exit 0
fi
# The banner's jcsctl line works from any directory (it used to be relative).
try=$(grep -m1 '/build/bin/jcsctl hub ls' "$S/make-run.log" | sed 's/^ *//')
if [ -n "$try" ] && (cd / && . "$S/run/cluster/cluster.env" && eval "$try") >/dev/null 2>&1; then
  pass banner_jcsctl_works_from_anywhere
else
  fail banner_jcsctl_works_from_anywhere "'$try' from / failed"
fi

# ---- the commands, as written, in one shell (the tour sources cluster.env and exports PATH)
mkdir -p "$S/out"
# Background jobs cannot change the shell's variables: run sourcing and
# exporting lines in the foreground instead (they do not wait on anything).
python3 - "$S/tour.json" "$S/tour.sh" "$S/out" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))
out = sys.argv[3]
lines = ["cd %s" % out.rsplit("/", 1)[0]]
for i, st in enumerate(steps):
    c = st["cmd"]
    if c == "make run":
        continue
    if c.startswith(". ") or c.startswith("export "):
        lines.append("{ %s\n} >%s/%d.out 2>&1; echo $? >%s/%d.rc" % (c, out, i, out, i))
    else:
        # A step that hangs (a wait that never ends) is stopped after 120 s.
        lines.append("( %s\n) >%s/%d.out 2>&1 </dev/null & p=$!; ( sleep 120; kill -TERM $p 2>/dev/null ) & w=$!; wait $p; echo $? >%s/%d.rc; kill $w 2>/dev/null; wait $w 2>/dev/null" % (c, out, i, out, i))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
EOF
(env -u JCS_ENDPOINT -u JCS_CA -u JCS_CERT -u JCS_KEY PATH="/usr/local/bin:/usr/bin:/bin" bash "$S/tour.sh") >"$S/tour.log" 2>&1

# ---- compare
python3 - "$S/tour.json" "$S/out" <<'EOF'
import json, re, sys
steps = json.load(open(sys.argv[1]))
out = sys.argv[2]

def norm(line):
    line = re.sub(r"[0-9A-F]{12,}", "H", line)
    line = re.sub(r"[0-9]+", "#", line)
    return " ".join(line.split())

def pattern(want):
    parts = norm(want).split("…")
    return re.compile("^" + r"\S*".join(re.escape(p) for p in parts) + "$")

for i, st in enumerate(steps):
    if st["cmd"] == "make run":
        continue
    name = "tour_step_%02d" % i
    try:
        rc = int(open("%s/%d.rc" % (out, i)).read().strip() or "1")
        got = open("%s/%d.out" % (out, i), errors="replace").read().split("\n")
    except OSError:
        print("FAIL %s: did not run (%s)" % (name, st["cmd"]))
        continue
    if rc != 0:
        print("FAIL %s: `%s` exited %d: %s" % (name, st["cmd"], rc, " | ".join(got[:6])))
        continue
    got_n = [norm(g) for g in got if g.strip()]
    j, missing = 0, None
    for w in st["want"]:
        p = pattern(w)
        while j < len(got_n) and not p.match(got_n[j]):
            j += 1
        if j == len(got_n):
            missing = w
            break
        j += 1
    if missing is not None:
        print("FAIL %s: `%s`: README shows %r, the output was: %s"
              % (name, st["cmd"], missing.strip(), " | ".join(got[:12])))
    else:
        print("PASS %s" % name)
EOF
