/* Wire format between vigil.bpf.c and user space (vigil/sensor/decode.py mirrors it).
 * Every record starts with struct vigil_header; fields are native-endian (little on x86/arm64),
 * except where noted. Keep decode.py in step when anything here changes. */
#ifndef VIGIL_EVENTS_H
#define VIGIL_EVENTS_H

/* record types: also the index of the per-type lost-event counters */
#define VIGIL_EVENT_EXEC 1
#define VIGIL_EVENT_CONNECT 2
#define VIGIL_EVENT_EXIT 3
#define VIGIL_EVENT_FORK 4
#define VIGIL_EVENT_ACCEPT 5
#define VIGIL_EVENT_LISTEN 6
#define VIGIL_EVENT_DNS 7
#define VIGIL_EVENT_PACKET_SOCKET 8
#define VIGIL_EVENT_OPEN 9
#define VIGIL_EVENT_SYMLINK 10
#define VIGIL_EVENT_LINK 11
#define VIGIL_EVENT_RENAME 12
#define VIGIL_EVENT_UNLINK 13
#define VIGIL_EVENT_CHMOD 14
#define VIGIL_EVENT_SETUID 15
#define VIGIL_EVENT_SETGID 16
#define VIGIL_EVENT_PTRACE 17
#define VIGIL_EVENT_MOUNT 18
#define VIGIL_EVENT_UMOUNT 19
#define VIGIL_EVENT_UNSHARE 20
#define VIGIL_EVENT_SETNS 21
#define VIGIL_EVENT_MEMFD_CREATE 22
#define VIGIL_EVENT_BPF 23
#define VIGIL_EVENT_MODULE_LOAD 24
/* size of the per-CPU lost/filtered counter arrays: indexed by event type */
#define VIGIL_EVENT_TYPES 25

#define VIGIL_EXE_MAX 256
#define VIGIL_ARGS_MAX 1024
#define VIGIL_PATH_MAX 256
#define VIGIL_SHORT_MAX 64
/* dentry walks (cwd, the executable's file): at most this many components */
#define VIGIL_PATH_DEPTH 24
/* Scratch room for the packed strings of one record (vigil_exec.data, vigil_syscall.data): a power
 * of two, big enough that a string's offset masked with (half of it - 1), plus that string's
 * bound, still lands inside: that is how the verifier is shown every write is in bounds. The
 * strings themselves use at most 2048 (exec) and 576 (syscall) bytes; only those are sent. */
#define VIGIL_EXEC_DATA 4096
#define VIGIL_SYSCALL_DATA 2048

/* vigil_exec.flags */
#define VIGIL_EXEC_ARGS_TRUNCATED 1
#define VIGIL_EXEC_EXE_TRUNCATED 2
#define VIGIL_EXEC_CWD_TRUNCATED 4
#define VIGIL_EXEC_FILE_TRUNCATED 8

/* vigil_syscall.flags: string i was cut at its bound */
#define VIGIL_STR0_TRUNCATED 1
#define VIGIL_STR1_TRUNCATED 2
#define VIGIL_STR2_TRUNCATED 4

/* vigil_connect.protocol: from the socket's type */
#define VIGIL_PROTO_TCP 1
#define VIGIL_PROTO_UDP 2

/* prefix table entry kinds (struct vigil_prefix.kind) */
#define VIGIL_PREFIX_READ 1  /* opens for read of these paths are reported */
#define VIGIL_PREFIX_WRITE 2 /* writes, creates, truncates, renames, unlinks below these */
#define VIGIL_PREFIXES_MAX 32
#define VIGIL_PREFIX_LEN 64

struct vigil_header {
	__u32 type;
	__u32 pid;  /* tgid, as seen from the initial pid namespace */
	__u32 ppid; /* real_parent's tgid */
	__u32 uid;  /* in the initial user namespace */
	__u32 euid;
	__u32 gid;
	__u64 cgroup_id;
	__u64 ktime_ns; /* CLOCK_MONOTONIC */
	/* the process's start (ns since boot, as /proc/<pid>/stat's starttime): pid + start_ns
	 * name one process for its whole life, across pid reuse */
	__u64 start_ns;
};

/* The strings are packed back to back in data, in this order and without terminators:
 * exe[exe_len] args[args_len] interp[interp_len] cwd[cwd_len] file[file_len]; only the fixed part
 * and the used bytes of data are sent. Each string has its own bound (VIGIL_EXE_MAX for exe and
 * interp, VIGIL_PATH_MAX for cwd and file, VIGIL_ARGS_MAX for args). Paths from dentry walks
 * (cwd, file) are their components leaf first, each NUL-terminated: user space reverses them. */
struct vigil_exec {
	struct vigil_header hdr;
	__u32 flags;
	__u16 exe_len;  /* bytes of exe (bprm->filename), without the trailing NUL */
	__u16 args_len; /* bytes of args: NUL-separated argv */
	__u16 cwd_len;
	__u16 file_len;   /* the opened executable's own path (bprm->file), leaf first */
	__u16 interp_len; /* bprm->interp: differs from exe for scripts and binfmt_misc */
	__u16 file_depth; /* components walked; 0xffff when the walk reached its bound */
	__u64 file_ctime_s; /* the executable's inode: max(ctime, mtime), seconds */
	__u64 file_magic;   /* its superblock's magic (OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC, ...) */
	__u32 file_nlink;   /* 0: unlinked (memfd, deleted after exec) */
	__u32 pad;
	__u64 exec_hash; /* what a verdict on this exec reads, hashed (0: cgroup not filtered) */
	char data[VIGIL_EXEC_DATA];
};

struct vigil_connect {
	struct vigil_header hdr;
	__s32 ret;     /* connect(2)'s return value: 0, -EINPROGRESS, -ECONNREFUSED, ... */
	__u16 family;  /* AF_INET or AF_INET6 */
	__u16 port;    /* host byte order */
	__u8 protocol; /* VIGIL_PROTO_* */
	__u8 pad[3];
	__u8 addr[16]; /* network byte order; AF_INET uses the first 4 bytes */
};

/* Accept (remote end = peer) and listen/bind (local end): both ends of the socket. */
struct vigil_socket {
	struct vigil_header hdr;
	__s32 ret;
	__u16 family;
	__u8 protocol;
	__u8 pad;
	__u16 local_port;
	__u16 remote_port;
	__u8 local_addr[16];
	__u8 remote_addr[16];
};

/* Everything else: a syscall's integer arguments and up to three strings, packed back to back in
 * data without terminators: str0[str0_len] str1[str1_len] str2[str2_len] (bounds VIGIL_PATH_MAX,
 * VIGIL_PATH_MAX, VIGIL_SHORT_MAX); only the fixed part and the used bytes of data are sent. For
 * DNS, str0 holds the first bytes of the query payload (binary), args[0] the destination port. */
struct vigil_syscall {
	struct vigil_header hdr;
	__s64 ret;
	__u64 args[4];
	__u32 flags;
	__u16 str0_len;
	__u16 str1_len;
	__u16 str2_len;
	__u16 pad[3];
	char data[VIGIL_SYSCALL_DATA];
};

/* exit and fork: the process, its exit code or its parent */
struct vigil_task {
	struct vigil_header hdr;
	__s32 exit_code; /* exit: wait(2) status as the kernel keeps it (code << 8 | signal) */
	__u32 pad;
};

/* --- maps user space writes --- */
struct vigil_prefix {
	__u32 kind; /* VIGIL_PREFIX_*; 0 ends the table */
	__u32 len;
	char path[VIGIL_PREFIX_LEN];
};

struct vigil_config {
	__u32 self_tgid; /* the agent itself: never reported (its own bpf()/open() would echo) */
	__u32 prefixes;  /* entries used in the prefix table */
	__u64 hash_seed; /* random per agent start: exec hashes cannot be aimed at from outside */
};

/* An exec user space judged allowed (locked profile, no rule), exactly: exec_hash covers the
 * path given to execve, argv, the parent's program and its ancestry, uid/euid/gid, the
 * executable file's identity (device, inode, change time) and the cwd. Its repeats are dropped
 * in the kernel. */
struct vigil_exec_key {
	__u64 cgroup_id;
	__u64 exec_hash;
};

/* per process (tgid): the hash of the program it runs, so its children's execs can name it */
struct vigil_program {
	__u64 start_ns; /* the owner's start: a recycled pid does not inherit it */
	__u64 exe_hash;
};

struct vigil_dest_key {
	__u64 cgroup_id;
	__u8 addr[16];
	__u16 port;
	__u8 protocol;
	__u8 family_v6;
	__u32 pad;
};

/* per (cgroup, type) losses: how many and when (ktime of the first and the last) */
struct vigil_loss_key {
	__u64 cgroup_id;
	__u32 type;
	__u32 pad;
};

struct vigil_loss {
	__u64 count;
	__u64 first_ns;
	__u64 last_ns;
};

/* vigil_filter value flags: what the kernel drops for a locked cgroup */
#define VIGIL_FILTER_EXEC 1    /* execs judged allowed before (see vigil_exec_key) */
#define VIGIL_FILTER_CONNECT 2 /* connects to allowed destinations */
#define VIGIL_FILTER_TASK 4    /* fork and exit (steady state; the tree falls back to /proc) */

#endif
