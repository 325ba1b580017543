#!/bin/bash
# The release binary (`make release`, what `make install` installs) needs nothing of the Swift
# toolchain: run with the toolchain's directory hidden (a tmpfs over it, in a mount namespace
# of its own), it still runs a sandbox, and `--version` names the commit it was built from.
# Skips, saying why, only when no mount namespace can be made here.
set -u
JOEY=$(readlink -f "${1:-.build/release/joey}")
SWIFT=$(command -v "${SWIFT:-swift}") || { echo "release-test: SKIP: no swift on PATH to hide"; exit 0; }
toolchain=$(dirname "$(dirname "$(readlink -f "$SWIFT")")")   # .../usr
unshare -m true 2>/dev/null || { echo "release-test: SKIP: cannot make a mount namespace here (unshare -m)"; exit 0; }
fails=0
out=$(unshare -m sh -c "mount -t tmpfs none '$toolchain' && ls -A '$toolchain' | wc -l && '$JOEY' do -- /bin/echo ran" 2>&1)
if [ "$out" = "$(printf '0\nran')" ]; then
    echo "release-test: ok: runs a sandbox with the Swift toolchain ($toolchain) hidden"
else
    echo "release-test: FAIL: with $toolchain hidden: $out" >&2; fails=1
fi
want=$(git -C "$(dirname "$0")/../.." describe --always --dirty --abbrev=12 2>/dev/null)
got=$("$JOEY" --version | sed -n 's/^commit: //p')
if [ -z "$want" ]; then
    echo "release-test: SKIP: not a git checkout, so no commit for --version to name"
elif [ "$got" = "$want" ]; then
    echo "release-test: ok: --version names commit $got"
else
    echo "release-test: FAIL: --version names commit '$got', the tree is at '$want'" >&2; fails=1
fi
exit $fails
