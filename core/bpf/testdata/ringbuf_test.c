// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A ring buffer writer for ringbuf.kernel.test.ts, run with BPF_PROG_TEST_RUN on a crafted
 * frame: the frame's first byte says how many events to write (at most 7), each a 16-byte
 * struct rb_event reserved and submitted, then one 5-byte record ("tail!") written with
 * bpf_ringbuf_output, so records whose size is not a multiple of 8 are read at their size.
 * XDP_PASS when every record fitted, XDP_DROP when the ring refused one. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* the test's own map replaces this one */
} cellium_rb_test SEC(".maps");

struct rb_event {
	__u32 seq;
	__u32 frame_len;
	__u8 head[8];
};

SEC("xdp")
int rb_emit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	char tail[5] = { 't', 'a', 'i', 'l', '!' };
	int refused = 0;

	if (data + 9 > end)
		return XDP_ABORTED;
	__u8 n = *(__u8 *)data & 7;
	for (__u32 i = 0; i < 7; i++) {
		if (i >= n)
			break;
		struct rb_event *e = bpf_ringbuf_reserve(&cellium_rb_test, sizeof(*e), 0);
		if (!e) {
			refused = 1;
			continue;
		}
		e->seq = i;
		e->frame_len = (__u32)(end - data);
		__builtin_memcpy(e->head, data + 1, sizeof(e->head));
		bpf_ringbuf_submit(e, 0);
	}
	if (bpf_ringbuf_output(&cellium_rb_test, tail, sizeof(tail), 0))
		refused = 1;
	return refused ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
