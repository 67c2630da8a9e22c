// SPDX-License-Identifier: GPL-2.0
/* vigil's in-kernel block at exec: a process whose (cgroup, executable) is denied — or, in a
 * cgroup under allow-list enforcement, not allowed — gets SIGKILL from sched_process_exec. The
 * signal is pending before the new image runs its first instruction, so the blocked program
 * never executes any of its own code.
 *
 * The executable is the path given to execve (bprm->filename), the same path the sensor reports
 * and profiles learn; user space writes it NUL-padded to ENFORCE_PATH_MAX. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define ENFORCE_PATH_MAX 256
#define SIGKILL 9

struct exe_key {
	__u64 cgroup_id;
	char path[ENFORCE_PATH_MAX];
};

/* (cgroup, executable) → 1: kill at exec. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct exe_key);
	__type(value, __u8);
} denied_exes SEC(".maps");

/* (cgroup, executable) → 1: allowed where the cgroup enforces its allow-list. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct exe_key);
	__type(value, __u8);
} allowed_exes SEC(".maps");

/* cgroup id → 1: deny every executable not in allowed_exes for this cgroup. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} allowlist_cgroups SEC(".maps");

/* The key is too big for comfort on the 512-byte stack: one scratch slot per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exe_key);
} scratch SEC(".maps");

/* [0] processes killed, [1] kills that failed (bpf_send_signal refused). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} enforce_stats SEC(".maps");

static __always_inline void count(__u32 slot)
{
	__u64 *counter = bpf_map_lookup_elem(&enforce_stats, &slot);

	if (counter)
		*counter += 1;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_enforce_exec, struct task_struct *task, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 zero = 0;
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	struct exe_key *key;
	int deny;

	key = bpf_map_lookup_elem(&scratch, &zero);
	if (!key)
		return 0;
	__builtin_memset(key, 0, sizeof(*key));
	key->cgroup_id = cgroup_id;
	if (bpf_probe_read_kernel_str(key->path, sizeof(key->path), BPF_CORE_READ(bprm, filename)) <= 0)
		return 0;

	deny = bpf_map_lookup_elem(&denied_exes, key) != NULL;
	if (!deny && bpf_map_lookup_elem(&allowlist_cgroups, &cgroup_id))
		deny = bpf_map_lookup_elem(&allowed_exes, key) == NULL;
	if (!deny)
		return 0;
	if (bpf_send_signal(SIGKILL) == 0)
		count(0);
	else
		count(1);
	return 0;
}
