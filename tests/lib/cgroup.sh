# Removing the cgroups a test's netservd made, also when it was killed
# before it could (a failed test): every directory NAME below the cgroup
# root (v2) or below each v1 controller, leaves first. NAME may be a glob.
# shellcheck shell=bash
cgroups_remove() {
	local pattern=$1 base dir
	for base in /sys/fs/cgroup /sys/fs/cgroup/*/; do
		base=${base%/}
		for dir in "$base"/$pattern; do
			[ -d "$dir" ] || continue
			# rmdir only (cgroupfs has no files to delete), deepest first.
			find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null
		done
	done
}
