// SPDX-License-Identifier: GPL-2.0
/* vigil's kernel side: process, network, file, privilege and kernel activity, sent to user space
 * through one ring buffer. Tracepoints only (kprobes/fentry/LSM are not available everywhere we
 * run). Hot paths filter in the kernel: file opens by path prefix (a table user space writes),
 * and behaviour a locked profile allows (maps keyed by cgroup id, written by user space). */
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
#define AF_PACKET 17
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
#define DNS_PORT 53
#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

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

/* The same losses per (cgroup, type), with when they happened: names the blind containers. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vigil_loss_key);
	__type(value, struct vigil_loss);
} cgroup_losses SEC(".maps");

/* Events dropped on purpose because a locked profile allows them, per event type. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VIGIL_EVENT_TYPES);
	__type(key, __u32);
	__type(value, __u64);
} filtered_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_config);
} vigil_config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VIGIL_PREFIXES_MAX);
	__type(key, __u32);
	__type(value, struct vigil_prefix);
} prefixes SEC(".maps");

/* cgroup id -> VIGIL_FILTER_* : the cgroups whose locked profile the kernel enforces */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} filter_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_exec_key);
	__type(value, __u8);
} allowed_execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct vigil_dest_key);
	__type(value, __u8);
} allowed_dests SEC(".maps");

/* tgid -> the program it runs (lineage hash), for its children's exec hashes. LRU: exits are
 * not tracked; an entry whose start time does not match is a recycled pid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct vigil_program);
} programs SEC(".maps");

/* Records are built here (too big for the 512-byte stack), then copied to the ring buffer at
 * their used size: the fixed part and the packed strings. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_exec);
} exec_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vigil_syscall);
} syscall_scratch SEC(".maps");

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

/* UDP sockets connected to port 53, by (tgid << 32 | fd): their write()s are DNS queries. Only
 * these writes are looked at, so write() costs everyone else one hash lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} dns_sockets SEC(".maps");

static const __u32 ZERO = 0;

/* Where a packed string at byte off of a record's data area may be written or read: off masked
 * so that off + the string's bound (at most half the area) provably stays inside the area. Real
 * offsets are always below the mask, so the mask never changes them. */
#define EXEC_AT(event, off) ((event)->data + ((off) & (VIGIL_EXEC_DATA / 2 - 1)))
#define SYSCALL_AT(event, off) ((event)->data + ((off) & (VIGIL_SYSCALL_DATA / 2 - 1)))

/* Waking the reader costs far more than the rest of a record (an irq_work: an IPI, a VM exit in
 * a VM), so the programs and the reader share the time until which the reader drains on its own
 * (vigil/sensor/wakeups.py): a record before it wakes no one; a record after it wakes the reader
 * and moves it VIGIL_WAKEUP_NS ahead, so a reader slow to come is woken at most every 2 ms. A
 * burst that has piled up VIGIL_WAKEUP_BYTES always wakes it. */
#define VIGIL_WAKEUP_NS (2 * 1000 * 1000)
#define VIGIL_WAKEUP_BYTES (256 << 10)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE); /* the reader writes it in place */
	__type(key, __u32);
	__type(value, __u64);
} reader_quiet_until SEC(".maps");

static __always_inline __u64 wakeup(void)
{
	__u64 *quiet_until = bpf_map_lookup_elem(&reader_quiet_until, &ZERO);
	__u64 now = bpf_ktime_get_ns();

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > VIGIL_WAKEUP_BYTES)
		return BPF_RB_FORCE_WAKEUP;
	if (quiet_until && now < *quiet_until)
		return BPF_RB_NO_WAKEUP;
	if (quiet_until)
		*quiet_until = now + VIGIL_WAKEUP_NS; /* racy on purpose: at worst one more wake-up */
	return BPF_RB_FORCE_WAKEUP;
}

/* -- bookkeeping -------------------------------------------------------------------------------- */

static __always_inline bool is_self(void)
{
	struct vigil_config *cfg = bpf_map_lookup_elem(&vigil_config_map, &ZERO);

	return cfg && cfg->self_tgid == (__u32)(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline void count_lost(__u32 type)
{
	__u64 *counter = bpf_map_lookup_elem(&lost_events, &type);
	struct vigil_loss_key key = {.cgroup_id = bpf_get_current_cgroup_id(), .type = type};
	struct vigil_loss *loss;
	__u64 now = bpf_ktime_get_ns();

	if (counter)
		*counter += 1; /* per-CPU slot: no other CPU writes it */
	loss = bpf_map_lookup_elem(&cgroup_losses, &key);
	if (loss) {
		__sync_fetch_and_add(&loss->count, 1);
		loss->last_ns = now;
	} else {
		struct vigil_loss first = {.count = 1, .first_ns = now, .last_ns = now};

		bpf_map_update_elem(&cgroup_losses, &key, &first, BPF_NOEXIST);
	}
}

static __always_inline void count_filtered(__u32 type)
{
	__u64 *counter = bpf_map_lookup_elem(&filtered_events, &type);

	if (counter)
		*counter += 1;
}

static __always_inline __u32 filter_flags(void)
{
	__u64 cgroup_id = bpf_get_current_cgroup_id();
	__u32 *flags = bpf_map_lookup_elem(&filter_cgroups, &cgroup_id);

	return flags ? *flags : 0;
}

static __always_inline void fill_header_of(struct vigil_header *hdr, __u32 type,
					   struct task_struct *task)
{
	hdr->type = type;
	hdr->pid = BPF_CORE_READ(task, tgid);
	hdr->ppid = BPF_CORE_READ(task, real_parent, tgid);
	hdr->uid = BPF_CORE_READ(task, cred, uid.val);
	hdr->euid = BPF_CORE_READ(task, cred, euid.val);
	hdr->gid = BPF_CORE_READ(task, cred, gid.val);
	hdr->cgroup_id = bpf_get_current_cgroup_id();
	hdr->ktime_ns = bpf_ktime_get_ns();
	hdr->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline void fill_header(struct vigil_header *hdr, __u32 type)
{
	fill_header_of(hdr, type, (struct task_struct *)bpf_get_current_task());
}

/* -- processes ---------------------------------------------------------------------------------- */

/* One dentry walk (cwd, or the executable's file) through bpf_loop: the verifier checks one step,
 * not every path through VIGIL_PATH_DEPTH unrolled steps. */
struct walk {
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	__u32 base; /* where this path starts in vigil_exec.data */
	__u32 off;  /* bytes written from base */
	__u32 depth;
	bool done;
};

static long walk_step(__u32 i, void *data)
{
	struct walk *walk = data;
	struct vigil_exec *event = bpf_map_lookup_elem(&exec_scratch, &ZERO);
	struct vfsmount *vfsmnt = walk->vfsmnt; /* locals: CO-RE reads must not see struct walk */
	struct dentry *dentry = walk->dentry;
	struct mount *mnt = (void *)vfsmnt - bpf_core_field_offset(struct mount, mnt);
	struct dentry *mnt_root, *parent;
	const unsigned char *name;
	__u32 at, room;
	char *buf;
	long n;

	if (!event)
		return 1;
	if (dentry == walk->root_dentry && vfsmnt == walk->root_mnt) {
		walk->done = true;
		return 1;
	}
	mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt) { /* the top of the mount tree (or a detached one) */
			walk->done = true;
			return 1;
		}
		walk->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		walk->vfsmnt = (void *)mnt_parent + bpf_core_field_offset(struct mount, mnt);
		return 0;
	}
	name = BPF_CORE_READ(dentry, d_name.name);
	at = walk->off;
	if (at > VIGIL_PATH_MAX - 2)
		return 1; /* out of room: not done, so truncated */
	at &= VIGIL_PATH_MAX - 1;
	room = VIGIL_PATH_MAX - at;
	buf = EXEC_AT(event, walk->base + at);
	n = bpf_probe_read_kernel_str(buf, room, name);
	if (n <= 0)
		return 1;
	walk->off += n;
	walk->depth++;
	if (dentry == parent) { /* a pseudo file (memfd, ...): its name is all there is */
		walk->done = true;
		return 1;
	}
	walk->dentry = parent;
	return 0;
}

/* The components of (dentry, vfsmnt) up to the task's root, leaf first, each NUL-terminated, into
 * the exec record's data from byte base on (at most VIGIL_PATH_MAX bytes). Crosses mount points
 * like d_path. Returns bytes written; *depth gets the components walked, or 0xffff when the walk
 * stopped before the root. */
static __always_inline __u32 walk_path(struct task_struct *task, struct dentry *dentry,
				       struct vfsmount *vfsmnt, __u32 base, __u16 *depth)
{
	struct walk walk = {
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.base = base,
	};

	bpf_loop(VIGIL_PATH_DEPTH, walk_step, &walk, 0);
	*depth = walk.done ? walk.depth : 0xffff;
	return walk.off;
}

static __always_inline __u64 fnv1a(const char *text, __u32 len)
{
	__u64 hash = FNV_OFFSET;
	__u32 i;

	for (i = 0; i < VIGIL_EXE_MAX; i++) {
		if (i >= len)
			break;
		hash ^= (__u8)text[i];
		hash *= FNV_PRIME;
	}
	return hash;
}

static __always_inline __u64 mix(__u64 hash, __u64 value)
{
	hash ^= value;
	hash *= FNV_PRIME;
	return hash ^ (hash >> 29);
}

struct args_hash {
	__u32 base; /* where argv starts in vigil_exec.data */
	__u32 len;
	__u64 hash;
};

/* one byte of the exec record's argv into the hash, through bpf_loop (one step to verify) */
static long args_hash_step(__u32 i, void *data)
{
	struct vigil_exec *event = bpf_map_lookup_elem(&exec_scratch, &ZERO);
	struct args_hash *ctx = data;

	if (!event || i >= ctx->len)
		return 1;
	ctx->hash ^= (__u8)*EXEC_AT(event, ctx->base + (i & (VIGIL_ARGS_MAX - 1)));
	ctx->hash *= FNV_PRIME;
	return 0;
}

static __always_inline __u64 hash_seed(void)
{
	struct vigil_config *cfg = bpf_map_lookup_elem(&vigil_config_map, &ZERO);

	return cfg ? cfg->hash_seed : 0;
}

/* The program a process runs, with its whole ancestry: its own entry in `programs`, or, for a
 * process that started or last exec'd before the sensor, its very instance (pid, start). */
static __always_inline __u64 lineage_of(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 start = BPF_CORE_READ(task, group_leader, start_boottime);
	struct vigil_program *known = bpf_map_lookup_elem(&programs, &tgid);

	if (known && known->start_ns == start)
		return known->exe_hash;
	return mix(mix(FNV_OFFSET, tgid), start);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vigil_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vigil_exec *event = bpf_map_lookup_elem(&exec_scratch, &ZERO);
	unsigned long arg_start, arg_end, len;
	struct args_hash args = {};
	struct vigil_program program;
	struct file *file;
	struct inode *inode;
	__u64 ctime, mtime, size, hash;
	__u32 tgid;
	__u32 off; /* end of the strings packed so far in event->data: exe, args, interp, cwd, file */
	long copied;

	if (!event || is_self())
		return 0;
	fill_header_of(&event->hdr, VIGIL_EVENT_EXEC, task);
	event->flags = 0;

	copied = bpf_probe_read_kernel_str(event->data, VIGIL_EXE_MAX, BPF_CORE_READ(bprm, filename));
	if (copied <= 0)
		copied = 1;
	event->exe_len = copied - 1;
	if (copied == VIGIL_EXE_MAX)
		event->flags |= VIGIL_EXEC_EXE_TRUNCATED; /* may also be an exact fit: be pessimistic */
	off = event->exe_len;

	file = BPF_CORE_READ(bprm, file);
	inode = BPF_CORE_READ(file, f_inode);
	ctime = BPF_CORE_READ(inode, i_ctime_sec);
	mtime = BPF_CORE_READ(inode, i_mtime_sec);
	event->file_ctime_s = ctime > mtime ? ctime : mtime;
	event->file_magic = BPF_CORE_READ(inode, i_sb, s_magic);
	event->file_nlink = BPF_CORE_READ(inode, __i_nlink);
	event->pad = 0;

	/* argv as the new program sees it, NUL-separated, from the new mm's argument area. */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > VIGIL_ARGS_MAX) {
		len = VIGIL_ARGS_MAX;
		event->flags |= VIGIL_EXEC_ARGS_TRUNCATED;
	}
	if (len && bpf_probe_read_user(EXEC_AT(event, off), len, (const void *)arg_start) != 0)
		len = 0;
	event->args_len = len;

	/* This process's program from now on: the path given, the file itself, its ancestry. */
	hash = mix(fnv1a(event->data, event->exe_len), lineage_of(BPF_CORE_READ(task, real_parent)));
	hash = mix(hash, BPF_CORE_READ(inode, i_sb, s_dev));
	hash = mix(hash, BPF_CORE_READ(inode, i_ino));
	program.start_ns = event->hdr.start_ns;
	program.exe_hash = hash;
	tgid = event->hdr.pid;
	bpf_map_update_elem(&programs, &tgid, &program, BPF_ANY);

	/* Everything else a verdict on this exec reads: argv, ids, the file's state, the cwd. Only
	 * for a filtered cgroup: nowhere else is an exec remembered (0: not hashed). */
	event->exec_hash = 0;
	if (filter_flags() & VIGIL_FILTER_EXEC) {
		struct vigil_exec_key key = {.cgroup_id = event->hdr.cgroup_id};

		args.base = off;
		args.len = len;
		args.hash = hash_seed();
		bpf_loop(VIGIL_ARGS_MAX, args_hash_step, &args, 0);
		hash = mix(args.hash, hash);
		hash = mix(hash, ((__u64)event->hdr.euid << 32) | event->hdr.uid);
		hash = mix(hash, event->hdr.gid);
		hash = mix(hash, event->file_ctime_s);
		hash = mix(hash, event->file_magic ^ ((__u64)event->file_nlink << 32));
		hash = mix(hash, BPF_CORE_READ(task, fs, pwd.dentry, d_inode, i_ino));
		hash = mix(hash, BPF_CORE_READ(task, fs, pwd.dentry, d_sb, s_dev));
		event->exec_hash = hash ? hash : 1;
		key.exec_hash = event->exec_hash;
		if (bpf_map_lookup_elem(&allowed_execs, &key)) {
			count_filtered(VIGIL_EVENT_EXEC);
			return 0;
		}
	}

	off += len;

	copied = bpf_probe_read_kernel_str(EXEC_AT(event, off), VIGIL_EXE_MAX, BPF_CORE_READ(bprm, interp));
	event->interp_len = copied > 0 ? copied - 1 : 0;
	off += event->interp_len;

	event->cwd_len = walk_path(task, BPF_CORE_READ(task, fs, pwd.dentry),
				   BPF_CORE_READ(task, fs, pwd.mnt), off, &event->file_depth);
	if (event->file_depth == 0xffff)
		event->flags |= VIGIL_EXEC_CWD_TRUNCATED;
	off += event->cwd_len;

	event->file_len = walk_path(task, BPF_CORE_READ(file, f_path.dentry),
				    BPF_CORE_READ(file, f_path.mnt), off, &event->file_depth);
	if (event->file_depth == 0xffff)
		event->flags |= VIGIL_EXEC_FILE_TRUNCATED;
	off += event->file_len;

	size = __builtin_offsetof(struct vigil_exec, data) + (off & (VIGIL_EXEC_DATA - 1));
	if (bpf_ringbuf_output(&events, event, size, wakeup()) != 0)
		count_lost(VIGIL_EVENT_EXEC);
	return 0;
}

static __always_inline int task_event(struct task_struct *task, __u32 type, __s32 exit_code)
{
	struct vigil_task event = {};

	if (is_self())
		return 0;
	if (filter_flags() & VIGIL_FILTER_TASK) {
		count_filtered(type);
		return 0;
	}
	fill_header_of(&event.hdr, type, task);
	event.exit_code = exit_code;
	if (bpf_ringbuf_output(&events, &event, sizeof(event), wakeup()) != 0)
		count_lost(type);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(vigil_fork, struct task_struct *parent, struct task_struct *child)
{
	struct vigil_program program;
	__u32 tgid;

	if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
		return 0; /* a new thread, not a new process */
	/* the child runs its parent's program (and ancestry) until it execs */
	program.exe_hash = lineage_of(parent);
	program.start_ns = BPF_CORE_READ(child, start_boottime);
	tgid = BPF_CORE_READ(child, tgid);
	bpf_map_update_elem(&programs, &tgid, &program, BPF_ANY);
	return task_event(child, VIGIL_EVENT_FORK, 0);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vigil_exit, struct task_struct *task)
{
	if (BPF_CORE_READ(task, pid) != BPF_CORE_READ(task, tgid))
		return 0; /* a thread ending; the process goes on */
	return task_event(task, VIGIL_EVENT_EXIT, BPF_CORE_READ(task, exit_code));
}

/* -- network ------------------------------------------------------------------------------------ */

/* The socket behind fd in the current task, or NULL. */
static __always_inline struct socket *socket_of(int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0 || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	return BPF_CORE_READ(file, private_data);
}

static __always_inline __u8 protocol_of(struct socket *sock)
{
	short type;

	if (!sock)
		return 0;
	type = BPF_CORE_READ(sock, type);
	if (type == SOCK_STREAM)
		return VIGIL_PROTO_TCP;
	if (type == SOCK_DGRAM)
		return VIGIL_PROTO_UDP;
	return 0;
}

/* Both ends of an inet socket into event; false for anything else. */
static __always_inline bool socket_ends(struct socket *sock, struct vigil_socket *event)
{
	struct sock *sk;
	__u16 family;

	event->protocol = protocol_of(sock);
	if (!event->protocol)
		return false;
	sk = BPF_CORE_READ(sock, sk);
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	event->family = family;
	event->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	event->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 local = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 remote = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(event->local_addr, &local, 4);
		__builtin_memcpy(event->remote_addr, &remote, 4);
		return true;
	}
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&event->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&event->remote_addr, sk, __sk_common.skc_v6_daddr);
		return true;
	}
	return false;
}

static __always_inline int submit_socket(struct vigil_socket *event, __u32 type)
{
	if (bpf_ringbuf_output(&events, event, sizeof(*event), wakeup()) != 0)
		count_lost(type);
	return 0;
}

/* family and port (host order) and address of a user sockaddr; false when not inet */
static __always_inline bool read_sockaddr(const void *uaddr, int addrlen, __u16 *family,
					  __u16 *port, __u8 addr[16])
{
	if (!uaddr || bpf_probe_read_user(family, sizeof(*family), uaddr) != 0)
		return false;
	if (*family == AF_INET) {
		struct sockaddr_in sin;

		if (addrlen < (int)sizeof(sin) || bpf_probe_read_user(&sin, sizeof(sin), uaddr) != 0)
			return false;
		*port = bpf_ntohs(sin.sin_port);
		__builtin_memcpy(addr, &sin.sin_addr, 4);
		return true;
	}
	if (*family == AF_INET6) {
		/* the 24 bytes before sin6_scope_id: enough, and what old callers pass */
		struct sockaddr_in6 sin6;

		if (addrlen < 24 || bpf_probe_read_user(&sin6, 24, uaddr) != 0)
			return false;
		*port = bpf_ntohs(sin6.sin6_port);
		__builtin_memcpy(addr, &sin6.sin6_addr, 16);
		return true;
	}
	return false; /* unix, netlink, AF_UNSPEC (UDP disconnect), ... */
}

SEC("tp/syscalls/sys_enter_connect")
int vigil_conn_req(struct trace_event_raw_sys_enter *ctx)
{
	struct pending_connect pending = {};
	__u64 tid = bpf_get_current_pid_tgid();
	__u32 flags;

	if (is_self())
		return 0;
	if (!read_sockaddr((const void *)ctx->args[1], (int)ctx->args[2], &pending.family,
			   &pending.port, pending.addr))
		return 0;
	pending.protocol = protocol_of(socket_of((int)ctx->args[0]));
	if (!pending.protocol)
		return 0; /* raw, seqpacket, ... or not a socket at all */
	flags = filter_flags();
	if (flags & VIGIL_FILTER_CONNECT) {
		struct vigil_dest_key key = {
			.cgroup_id = bpf_get_current_cgroup_id(),
			.port = pending.port,
			.protocol = pending.protocol,
			.family_v6 = pending.family == AF_INET6,
		};

		__builtin_memcpy(key.addr, pending.addr, 16);
		if (bpf_map_lookup_elem(&allowed_dests, &key)) {
			count_filtered(VIGIL_EVENT_CONNECT);
			return 0;
		}
	}
	if (pending.protocol == VIGIL_PROTO_UDP && pending.port == DNS_PORT) {
		__u64 key = (tid & 0xffffffff00000000ULL) | (__u32)ctx->args[0];
		__u8 yes = 1;

		bpf_map_update_elem(&dns_sockets, &key, &yes, BPF_ANY);
	}
	if (bpf_map_update_elem(&pending_connects, &tid, &pending, BPF_ANY) != 0)
		count_lost(VIGIL_EVENT_CONNECT);
	return 0;
}

SEC("tp/syscalls/sys_exit_connect")
int vigil_conn_ret(struct trace_event_raw_sys_exit *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct pending_connect *pending;
	struct vigil_connect event = {};

	pending = bpf_map_lookup_elem(&pending_connects, &tid);
	if (!pending)
		return 0;
	fill_header(&event.hdr, VIGIL_EVENT_CONNECT);
	event.ret = (__s32)ctx->ret;
	event.family = pending->family;
	event.port = pending->port;
	event.protocol = pending->protocol;
	__builtin_memcpy(event.addr, pending->addr, sizeof(event.addr));
	bpf_map_delete_elem(&pending_connects, &tid);
	if (bpf_ringbuf_output(&events, &event, sizeof(event), wakeup()) != 0)
		count_lost(VIGIL_EVENT_CONNECT);
	return 0;
}

static __always_inline int accepted(struct trace_event_raw_sys_exit *ctx)
{
	struct vigil_socket event = {};

	if (ctx->ret < 0 || is_self())
		return 0;
	if (!socket_ends(socket_of((int)ctx->ret), &event))
		return 0;
	fill_header(&event.hdr, VIGIL_EVENT_ACCEPT);
	event.ret = (__s32)ctx->ret;
	return submit_socket(&event, VIGIL_EVENT_ACCEPT);
}

SEC("tp/syscalls/sys_exit_accept4")
int vigil_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx);
}

SEC("tp/syscalls/sys_exit_accept")
int vigil_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx);
}

SEC("tp/syscalls/sys_enter_listen")
int vigil_listen(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_socket event = {};

	if (is_self() || !socket_ends(socket_of((int)ctx->args[0]), &event))
		return 0;
	fill_header(&event.hdr, VIGIL_EVENT_LISTEN);
	return submit_socket(&event, VIGIL_EVENT_LISTEN);
}

/* A UDP server has no listen(): its bind to a port is reported as a listen. */
SEC("tp/syscalls/sys_enter_bind")
int vigil_bind(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_socket event = {};
	struct socket *sock;

	if (is_self())
		return 0;
	sock = socket_of((int)ctx->args[0]);
	if (protocol_of(sock) != VIGIL_PROTO_UDP)
		return 0;
	if (!read_sockaddr((const void *)ctx->args[1], (int)ctx->args[2], &event.family,
			   &event.local_port, event.local_addr) ||
	    !event.local_port)
		return 0;
	event.protocol = VIGIL_PROTO_UDP;
	fill_header(&event.hdr, VIGIL_EVENT_LISTEN);
	return submit_socket(&event, VIGIL_EVENT_LISTEN);
}

static __always_inline struct vigil_syscall *syscall_event(__u32 type)
{
	struct vigil_syscall *event = bpf_map_lookup_elem(&syscall_scratch, &ZERO);

	if (!event)
		return NULL;
	fill_header(&event->hdr, type);
	event->ret = 0;
	event->args[0] = event->args[1] = event->args[2] = event->args[3] = 0;
	event->flags = 0;
	event->str0_len = event->str1_len = event->str2_len = 0;
	return event;
}

/* The fixed part and the strings: nothing of data after the last string is sent. */
static __always_inline int submit_syscall(struct vigil_syscall *event)
{
	__u32 used = (__u32)event->str0_len + event->str1_len + event->str2_len;
	__u64 size = __builtin_offsetof(struct vigil_syscall, data) + (used & (VIGIL_SYSCALL_DATA - 1));

	if (bpf_ringbuf_output(&events, event, size, wakeup()) != 0)
		count_lost(event->hdr.type);
	return 0;
}

/* A UDP datagram to port 53 (named in the call, or the connected peer): its first bytes. */
static __always_inline int maybe_dns(int fd, const void *uaddr, int addrlen, const void *buf,
				     __u64 len)
{
	struct socket *sock;
	struct vigil_syscall *event;
	__u16 family = 0, port = 0;
	__u8 addr[16] = {};

	if (is_self())
		return 0;
	sock = socket_of(fd);
	if (protocol_of(sock) != VIGIL_PROTO_UDP)
		return 0;
	if (uaddr) {
		if (!read_sockaddr(uaddr, addrlen, &family, &port, addr))
			return 0;
	} else {
		struct sock *sk = BPF_CORE_READ(sock, sk);

		family = BPF_CORE_READ(sk, __sk_common.skc_family);
		port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		if (family == AF_INET) {
			__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);

			__builtin_memcpy(addr, &daddr, 4);
		} else {
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_v6_daddr);
		}
	}
	if (port != DNS_PORT || !buf)
		return 0;
	event = syscall_event(VIGIL_EVENT_DNS);
	if (!event)
		return 0;
	if (len > VIGIL_PATH_MAX) {
		len = VIGIL_PATH_MAX;
		event->flags |= VIGIL_STR0_TRUNCATED;
	}
	if (bpf_probe_read_user(event->data, len & (VIGIL_PATH_MAX * 2 - 1), buf) != 0)
		return 0;
	event->str0_len = len;
	event->args[0] = port;
	event->args[1] = family;
	/* str2 := the address; str1 stays empty, so it follows str0 */
	__builtin_memcpy(SYSCALL_AT(event, event->str0_len), addr, 16);
	event->str2_len = 16;
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_sendto")
int vigil_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return maybe_dns((int)ctx->args[0], (const void *)ctx->args[4], (int)ctx->args[5],
			 (const void *)ctx->args[1], ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_write")
int vigil_write(struct trace_event_raw_sys_enter *ctx)
{
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)ctx->args[0];

	if (!bpf_map_lookup_elem(&dns_sockets, &key))
		return 0;
	return maybe_dns((int)ctx->args[0], NULL, 0, (const void *)ctx->args[1], ctx->args[2]);
}

static __always_inline int dns_from_msghdr(int fd, struct user_msghdr *umsg)
{
	struct user_msghdr msg;
	struct iovec iov;

	if (bpf_probe_read_user(&msg, sizeof(msg), umsg) != 0 || !msg.msg_iovlen)
		return 0;
	if (bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov) != 0)
		return 0;
	return maybe_dns(fd, msg.msg_name, msg.msg_namelen, iov.iov_base, iov.iov_len);
}

SEC("tp/syscalls/sys_enter_sendmsg")
int vigil_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return dns_from_msghdr((int)ctx->args[0], (struct user_msghdr *)ctx->args[1]);
}

/* glibc sends the A and AAAA queries together: the first message names the query */
SEC("tp/syscalls/sys_enter_sendmmsg")
int vigil_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return dns_from_msghdr((int)ctx->args[0], (struct user_msghdr *)ctx->args[1]);
}

SEC("tp/syscalls/sys_enter_socket")
int vigil_socket(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (ctx->args[0] != AF_PACKET || is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_PACKET_SOCKET);
	if (!event)
		return 0;
	event->args[0] = ctx->args[1]; /* type */
	event->args[1] = ctx->args[2]; /* protocol, network byte order */
	return submit_syscall(event);
}

/* -- files -------------------------------------------------------------------------------------- */

/* Whether path (len bytes: packed strings have no terminator) starts with a prefix of kind. */
static __always_inline bool path_matches(const char *path, __u32 len, __u32 kind)
{
	struct vigil_config *cfg = bpf_map_lookup_elem(&vigil_config_map, &ZERO);
	__u32 count = cfg ? cfg->prefixes : 0;
	__u32 i, j;

	for (i = 0; i < VIGIL_PREFIXES_MAX; i++) {
		struct vigil_prefix *prefix;
		bool same = true;

		if (i >= count)
			break;
		prefix = bpf_map_lookup_elem(&prefixes, &i);
		if (!prefix || !(prefix->kind & kind) || prefix->len > VIGIL_PREFIX_LEN ||
		    prefix->len > len)
			continue;
		for (j = 0; j < VIGIL_PREFIX_LEN; j++) {
			if (j >= prefix->len)
				break;
			if (path[j] != prefix->path[j]) {
				same = false;
				break;
			}
		}
		if (same)
			return true;
	}
	return false;
}

/* str0, str1, str2 := a user string, with its length and truncation flag. Called in that order
 * (each string is packed right after the ones before it), each at most once per record. */
static __always_inline bool read_str0(struct vigil_syscall *event, const char *text)
{
	long n = bpf_probe_read_user_str(event->data, VIGIL_PATH_MAX, text);

	if (n <= 0)
		return false;
	event->str0_len = n - 1;
	if (n == VIGIL_PATH_MAX)
		event->flags |= VIGIL_STR0_TRUNCATED;
	return true;
}

static __always_inline char *str1_of(struct vigil_syscall *event)
{
	return SYSCALL_AT(event, event->str0_len);
}

static __always_inline bool read_str1(struct vigil_syscall *event, const char *text)
{
	long n = bpf_probe_read_user_str(str1_of(event), VIGIL_PATH_MAX, text);

	if (n <= 0)
		return false;
	event->str1_len = n - 1;
	if (n == VIGIL_PATH_MAX)
		event->flags |= VIGIL_STR1_TRUNCATED;
	return true;
}

static __always_inline void read_str2(struct vigil_syscall *event, const char *text)
{
	long n = bpf_probe_read_user_str(SYSCALL_AT(event, (__u32)event->str0_len + event->str1_len),
					 VIGIL_SHORT_MAX, text);

	if (n <= 0)
		return;
	event->str2_len = n - 1;
	if (n == VIGIL_SHORT_MAX)
		event->flags |= VIGIL_STR2_TRUNCATED;
}

static __always_inline int opened(const char *path, __u64 flags, __u64 mode)
{
	struct vigil_syscall *event;
	bool writes = (flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC));

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_OPEN);
	if (!event || !read_str0(event, path))
		return 0;
	if (!path_matches(event->data, event->str0_len, writes ? VIGIL_PREFIX_WRITE : VIGIL_PREFIX_READ))
		return 0;
	event->args[0] = flags;
	event->args[1] = mode;
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_openat")
int vigil_openat(struct trace_event_raw_sys_enter *ctx)
{
	return opened((const char *)ctx->args[1], ctx->args[2], ctx->args[3]);
}

SEC("tp/syscalls/sys_enter_openat2")
int vigil_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]);
	return opened((const char *)ctx->args[1], how.flags, how.mode);
}

SEC("tp/syscalls/sys_enter_open")
int vigil_open(struct trace_event_raw_sys_enter *ctx)
{
	return opened((const char *)ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tp/syscalls/sys_enter_creat")
int vigil_creat(struct trace_event_raw_sys_enter *ctx)
{
	return opened((const char *)ctx->args[0], O_CREAT | O_TRUNC | 1, ctx->args[1]);
}

/* symlink/link: every creation (rare, and a classic persistence and escape step) */
static __always_inline int two_paths(__u32 type, const char *from, const char *to, __u64 arg,
				     bool watched_only)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(type);
	if (!event || !read_str0(event, from))
		return 0;
	read_str1(event, to);
	if (watched_only && !path_matches(event->data, event->str0_len, VIGIL_PREFIX_WRITE) &&
	    !path_matches(str1_of(event), event->str1_len, VIGIL_PREFIX_WRITE))
		return 0;
	event->args[0] = arg;
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_symlink")
int vigil_symlink(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_SYMLINK, (const char *)ctx->args[0], (const char *)ctx->args[1], 0, false);
}

SEC("tp/syscalls/sys_enter_symlinkat")
int vigil_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_SYMLINK, (const char *)ctx->args[0], (const char *)ctx->args[2], 0, false);
}

SEC("tp/syscalls/sys_enter_link")
int vigil_link(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_LINK, (const char *)ctx->args[0], (const char *)ctx->args[1], 0, false);
}

SEC("tp/syscalls/sys_enter_linkat")
int vigil_linkat(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_LINK, (const char *)ctx->args[1], (const char *)ctx->args[3], ctx->args[4], false);
}

SEC("tp/syscalls/sys_enter_rename")
int vigil_rename(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_RENAME, (const char *)ctx->args[0], (const char *)ctx->args[1], 0, true);
}

SEC("tp/syscalls/sys_enter_renameat")
int vigil_renameat(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_RENAME, (const char *)ctx->args[1], (const char *)ctx->args[3], 0, true);
}

SEC("tp/syscalls/sys_enter_renameat2")
int vigil_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	return two_paths(VIGIL_EVENT_RENAME, (const char *)ctx->args[1], (const char *)ctx->args[3], ctx->args[4], true);
}

static __always_inline int unlinked(const char *path, __u64 flags)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_UNLINK);
	if (!event || !read_str0(event, path) ||
	    !path_matches(event->data, event->str0_len, VIGIL_PREFIX_WRITE))
		return 0;
	event->args[0] = flags;
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_unlink")
int vigil_unlink(struct trace_event_raw_sys_enter *ctx)
{
	return unlinked((const char *)ctx->args[0], 0);
}

SEC("tp/syscalls/sys_enter_unlinkat")
int vigil_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return unlinked((const char *)ctx->args[1], ctx->args[2]);
}

/* chmod that sets an exec, setuid or setgid bit (the old mode is not known here) */
static __always_inline int chmodded(const char *path, __u64 mode, int fd)
{
	struct vigil_syscall *event;

	if (!(mode & 06111) || is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_CHMOD);
	if (!event)
		return 0;
	if (path)
		read_str0(event, path);
	event->args[0] = mode;
	event->args[1] = (__u64)(__s64)fd;
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_chmod")
int vigil_chmod(struct trace_event_raw_sys_enter *ctx)
{
	return chmodded((const char *)ctx->args[0], ctx->args[1], -100);
}

SEC("tp/syscalls/sys_enter_fchmodat")
int vigil_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	return chmodded((const char *)ctx->args[1], ctx->args[2], (int)ctx->args[0]);
}

SEC("tp/syscalls/sys_enter_fchmodat2")
int vigil_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	return chmodded((const char *)ctx->args[1], ctx->args[2], (int)ctx->args[0]);
}

SEC("tp/syscalls/sys_enter_fchmod")
int vigil_fchmod(struct trace_event_raw_sys_enter *ctx)
{
	return chmodded(NULL, ctx->args[1], (int)ctx->args[0]);
}

/* -- privilege and kernel ----------------------------------------------------------------------- */

/* A syscall reported with its first integer arguments (name in str2, for the decoder) */
static __always_inline int with_args(__u32 type, __u64 a0, __u64 a1, __u64 a2, __u64 which)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(type);
	if (!event)
		return 0;
	event->args[0] = a0;
	event->args[1] = a1;
	event->args[2] = a2;
	event->args[3] = which;
	return submit_syscall(event);
}

/* args[3] of setuid/setgid events: which call of the family */
#define ID_SET 0
#define ID_SETRE 1
#define ID_SETRES 2
#define ID_SETFS 3

SEC("tp/syscalls/sys_enter_setuid")
int vigil_setuid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETUID, ctx->args[0], 0, 0, ID_SET);
}

SEC("tp/syscalls/sys_enter_setreuid")
int vigil_setreuid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETUID, ctx->args[0], ctx->args[1], 0, ID_SETRE);
}

SEC("tp/syscalls/sys_enter_setresuid")
int vigil_setresuid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETUID, ctx->args[0], ctx->args[1], ctx->args[2], ID_SETRES);
}

SEC("tp/syscalls/sys_enter_setfsuid")
int vigil_setfsuid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETUID, ctx->args[0], 0, 0, ID_SETFS);
}

SEC("tp/syscalls/sys_enter_setgid")
int vigil_setgid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETGID, ctx->args[0], 0, 0, ID_SET);
}

SEC("tp/syscalls/sys_enter_setregid")
int vigil_setregid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETGID, ctx->args[0], ctx->args[1], 0, ID_SETRE);
}

SEC("tp/syscalls/sys_enter_setresgid")
int vigil_setresgid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETGID, ctx->args[0], ctx->args[1], ctx->args[2], ID_SETRES);
}

SEC("tp/syscalls/sys_enter_setfsgid")
int vigil_setfsgid(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETGID, ctx->args[0], 0, 0, ID_SETFS);
}

SEC("tp/syscalls/sys_enter_ptrace")
int vigil_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_PTRACE, ctx->args[0], ctx->args[1], 0, 0);
}

SEC("tp/syscalls/sys_enter_unshare")
int vigil_unshare(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_UNSHARE, ctx->args[0], 0, 0, 0);
}

SEC("tp/syscalls/sys_enter_setns")
int vigil_setns(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_SETNS, ctx->args[0], ctx->args[1], 0, 0);
}

SEC("tp/syscalls/sys_enter_bpf")
int vigil_bpf(struct trace_event_raw_sys_enter *ctx)
{
	return with_args(VIGIL_EVENT_BPF, ctx->args[0], ctx->args[2], 0, 0);
}

SEC("tp/syscalls/sys_enter_init_module")
int vigil_init_module(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_MODULE_LOAD);
	if (!event)
		return 0;
	event->args[0] = ctx->args[1]; /* image length */
	event->args[1] = (__u64)-1;   /* no fd: the image came from memory */
	read_str0(event, (const char *)ctx->args[2]); /* module parameters */
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_finit_module")
int vigil_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_MODULE_LOAD);
	if (!event)
		return 0;
	event->args[0] = 0;
	event->args[1] = ctx->args[0]; /* fd */
	event->args[2] = ctx->args[2]; /* flags */
	read_str0(event, (const char *)ctx->args[1]);
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_memfd_create")
int vigil_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_MEMFD_CREATE);
	if (!event)
		return 0;
	read_str0(event, (const char *)ctx->args[0]);
	event->args[0] = ctx->args[1];
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_mount")
int vigil_mount(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_MOUNT);
	if (!event)
		return 0;
	if (ctx->args[0])
		read_str0(event, (const char *)ctx->args[0]);
	read_str1(event, (const char *)ctx->args[1]);
	if (ctx->args[2])
		read_str2(event, (const char *)ctx->args[2]);
	event->args[0] = ctx->args[3];
	return submit_syscall(event);
}

SEC("tp/syscalls/sys_enter_umount")
int vigil_umount(struct trace_event_raw_sys_enter *ctx)
{
	struct vigil_syscall *event;

	if (is_self())
		return 0;
	event = syscall_event(VIGIL_EVENT_UMOUNT);
	if (!event)
		return 0;
	read_str0(event, (const char *)ctx->args[0]);
	event->args[0] = ctx->args[1];
	return submit_syscall(event);
}
