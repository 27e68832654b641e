#!/usr/bin/env bash
# Runs a command in a network namespace of its own with only loopback up, so tests that
# start several nodes or servers (and multicast tests) never touch the host's network and
# cannot collide with other processes' ports. Tries a plain network namespace (root),
# then one inside a user namespace (unprivileged); where neither is allowed it says so
# and runs the command in the current namespace, still bound to loopback only.
set -euo pipefail
inner='ip link set lo up && exec "$@"'
if unshare -n true 2>/dev/null; then
  exec unshare -n bash -c "$inner" bash "$@"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn bash -c "$inner" bash "$@"
fi
echo "in-netns: cannot create a network namespace here; running on the host's loopback" >&2
exec "$@"
