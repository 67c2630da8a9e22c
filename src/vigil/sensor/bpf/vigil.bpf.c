// SPDX-License-Identifier: GPL-2.0
/* vigil's kernel side: process executions and outbound connections, sent to user space through
 * one ring buffer. Tracepoints only (kprobes/fentry/LSM are not available everywhere we run). */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

char LICENSE[] SEC("license") = "GPL";

/* Not in vmlinux.h: these are preprocessor macros in the kernel. */
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* User space resizes this (bpf_map__set_max_entries) before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

/* Failed ring-buffer reservations, per event type: user space sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_EVENT_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} lost_events SEC(".maps");

/* connect(2) arguments, from sys_enter to sys_exit, per thread. LRU: a thread killed in the
 * middle of connect() never reaches sys_exit, and its entry must not stay forever. */
struct pending_connect {
	__u16 family;
	__u16 port;
	__u8 protocol;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct pending_connect);
} pending_connects SEC(".maps");

static __always_inline void count_lost(__u32 type)
{
	__u64 *counter = bpf_map_lookup_elem(&lost_events, &type);

	if (counter)
		*counter += 1; /* per-CPU slot: no other CPU writes it */
}

static __always_inline void fill_header(struct vigil_header *hdr, __u32 type)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	hdr->type = type;
	hdr->pid = bpf_get_current_pid_tgid() >> 32;
	hdr->ppid = BPF_CORE_READ(task, real_parent, tgid);
	hdr->uid = (__u32)bpf_get_current_uid_gid();
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->ktime_ns = bpf_ktime_get_ns();
	hdr->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_exec *event;
	unsigned long arg_start, arg_end, len;
	const char *filename;
	long copied;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost(VIGIL_EVENT_EXEC);
		return 0;
	}
	fill_header(&event->hdr, VIGIL_EVENT_EXEC);
	event->flags = 0;

	filename = BPF_CORE_READ(bprm, filename);
	copied = bpf_probe_read_kernel_str(event->exe, sizeof(event->exe), filename);
	if (copied <= 0) {
		copied = 1;
		event->exe[0] = 0;
	}
	event->exe_len = copied - 1;
	if (copied == sizeof(event->exe))
		event->flags |= VIGIL_EXEC_EXE_TRUNCATED; /* may also be an exact fit: be pessimistic */

	/* argv as the new program sees it, NUL-separated, from the new mm's argument area. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > VIGIL_ARGS_MAX) {
		len = VIGIL_ARGS_MAX;
		event->flags |= VIGIL_EXEC_ARGS_TRUNCATED;
	}
	if (len && bpf_probe_read_user(event->args, len, (const void *)arg_start) != 0)
		len = 0;
	event->args_len = len;

	bpf_ringbuf_submit(event, 0);
	return 0;
}

/* The socket behind fd in the current task, as VIGIL_PROTO_*; 0 for anything else. */
static __always_inline __u8 socket_protocol(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;
	struct socket *sock;
	short type;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0 || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	type = BPF_CORE_READ(sock, type);
	if (type == SOCK_STREAM)
		return VIGIL_PROTO_TCP;
	if (type == SOCK_DGRAM)
		return VIGIL_PROTO_UDP;
	return 0;
}

SEC("tp/syscalls/sys_enter_connect")
int vigil_conn_req(struct trace_event_raw_sys_enter *ctx)
{
	int fd = (int)ctx->args[0];
	const void *uaddr = (const void *)ctx->args[1];
	int addrlen = (int)ctx->args[2];
	struct pending_connect pending = {};
	__u64 tid = bpf_get_current_pid_tgid();

	if (bpf_probe_read_user(&pending.family, sizeof(pending.family), uaddr) != 0)
		return 0;
	if (pending.family == AF_INET) {
		struct sockaddr_in sin;

		if (addrlen < (int)sizeof(sin) || bpf_probe_read_user(&sin, sizeof(sin), uaddr) != 0)
			return 0;
		pending.port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(pending.addr, &sin.sin_addr, 4);
	} else if (pending.family == AF_INET6) {
		/* the 24 bytes before sin6_scope_id: enough, and what old callers pass */
		struct sockaddr_in6 sin6;

		if (addrlen < 24 || bpf_probe_read_user(&sin6, 24, uaddr) != 0)
			return 0;
		pending.port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(pending.addr, &sin6.sin6_addr, 16);
	} else {
		return 0; /* unix, netlink, AF_UNSPEC (UDP disconnect), ... */
	}
	pending.protocol = socket_protocol(fd);
	if (!pending.protocol)
		return 0; /* raw, seqpacket, ... or not a socket at all */
	if (bpf_map_update_elem(&pending_connects, &tid, &pending, BPF_ANY) != 0)
		count_lost(VIGIL_EVENT_CONNECT);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int vigil_conn_ret(struct trace_event_raw_sys_exit *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct pending_connect *pending;
	struct vigil_connect *event;

	pending = bpf_map_lookup_elem(&pending_connects, &tid);
	if (!pending)
		return 0;
	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		count_lost(VIGIL_EVENT_CONNECT);
		bpf_map_delete_elem(&pending_connects, &tid);
		return 0;
	}
	fill_header(&event->hdr, VIGIL_EVENT_CONNECT);
	event->ret = (__s32)ctx->ret;
	event->family = pending->family;
	event->port = pending->port;
	event->protocol = pending->protocol;
	__builtin_memset(event->pad, 0, sizeof(event->pad));
	__builtin_memcpy(event->addr, pending->addr, sizeof(event->addr));
	bpf_map_delete_elem(&pending_connects, &tid);

	bpf_ringbuf_submit(event, 0);
	return 0;
}
