// SPDX-License-Identifier: GPL-2.0
/* A test producer for vigil.sensor.ringbuf: getpgid(PROBE_MAGIC << 16 | size) from user space
 * makes this program send the first size bytes of probe_payload (which the test writes) to
 * probe_ring. Any other getpgid() is ignored (real pids are far below PROBE_MAGIC << 16). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define PROBE_MAGIC 0x7e5
#define PROBE_MAX 4096

struct payload {
	__u8 bytes[PROBE_MAX];
};

/* one page: the smallest ring, so a few records fill it and wrap */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct payload);
} probe_payload SEC(".maps");

/* [0] records sent, [1] records the full ring refused */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} probe_counts SEC(".maps");

SEC("tp/syscalls/sys_enter_getpgid")
int ringbuf_probe(struct trace_event_raw_sys_enter *ctx)
{
	__u64 arg = ctx->args[0];
	__u32 zero = 0, which;
	__u64 size = arg & (PROBE_MAX - 1);
	struct payload *payload;
	__u64 *count;

	if ((arg >> 16) != PROBE_MAGIC || !size)
		return 0;
	payload = bpf_map_lookup_elem(&probe_payload, &zero);
	if (!payload)
		return 0;
	which = bpf_ringbuf_output(&probe_ring, payload, size, 0) == 0 ? 0 : 1;
	count = bpf_map_lookup_elem(&probe_counts, &which);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}
