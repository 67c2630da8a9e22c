/* Wire format between vigil.bpf.c and user space (vigil/sensor/decode.py mirrors it).
 * Every record starts with struct vigil_header; fields are native-endian (little on x86/arm64),
 * except where noted. Keep decode.py in step when anything here changes. */
#ifndef VIGIL_EVENTS_H
#define VIGIL_EVENTS_H

#define VIGIL_EVENT_EXEC 1
#define VIGIL_EVENT_CONNECT 2
/* size of the per-CPU lost-event counter array: indexed by event type */
#define VIGIL_EVENT_TYPES 3

#define VIGIL_EXE_MAX 256
#define VIGIL_ARGS_MAX 1024

/* vigil_exec.flags */
#define VIGIL_EXEC_ARGS_TRUNCATED 1
#define VIGIL_EXEC_EXE_TRUNCATED 2

/* vigil_connect.protocol: from the socket's type */
#define VIGIL_PROTO_TCP 1
#define VIGIL_PROTO_UDP 2

struct vigil_header {
	__u32 type;
	__u32 pid;  /* tgid, as seen from the initial pid namespace */
	__u32 ppid; /* real_parent's tgid */
	__u32 uid;  /* in the initial user namespace */
	__u64 cgroup_id;
	__u64 ktime_ns; /* CLOCK_MONOTONIC */
	/* the process's start (ns since boot, as /proc/<pid>/stat's starttime): pid + start_ns
	 * name one process for its whole life, across pid reuse */
	__u64 start_ns;
};

struct vigil_exec {
	struct vigil_header hdr;
	__u32 flags;
	__u16 exe_len;  /* bytes of exe, without the trailing NUL */
	__u16 args_len; /* bytes of args: NUL-separated argv */
	char exe[VIGIL_EXE_MAX];
	char args[VIGIL_ARGS_MAX];
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

#endif
