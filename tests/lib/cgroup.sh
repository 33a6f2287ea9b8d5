# Removing the cgroups a test's netservd made, also when it was killed
# before it could (a failed test): every directory NAME below the cgroup
# root (v2) or below each v1 controller, leaves first. NAME may be a glob.
# A container killed with its netservd may still be leaving its group: the
# removal is retried for up to 5 s.
# shellcheck shell=bash
cgroups__list() {
	local base dir
	for base in /sys/fs/cgroup /sys/fs/cgroup/*/; do
		base=${base%/}
		for dir in "$base"/$1; do
			[ -d "$dir" ] && echo "$dir"
		done
	done
}

cgroups_remove() {
	local pattern=$1 dir i
	for i in $(seq 1 50); do
		for dir in $(cgroups__list "$pattern"); do
			# rmdir only (cgroupfs has no files to delete), deepest first.
			find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
		done
		[ -z "$(cgroups__list "$pattern")" ] && return 0
		sleep 0.1
	done
	return 1
}
