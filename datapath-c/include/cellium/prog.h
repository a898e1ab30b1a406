/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What bpf_lxc and bpf_host share: the skb->cb[] slots they leave for what runs after them,
 * the store that writes one, and the endpoints map both look local addresses up in. */
#ifndef CELLIUM_PROG_H
#define CELLIUM_PROG_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "cellium/maps.h"

/* skb->cb[] slots. */
#define CB_SRC_IDENTITY 0
#define CB_DST_IDENTITY 1
#define CB_DST_ENDPOINT 2
#define CB_BACKEND_ID 3
#define CB_REV_NAT 4

/* Writes skb->cb[i]. The empty asm makes the compiler take skb afresh, so it never keeps
 * &skb->cb in a register of its own: the verifier refuses stores through a moved ctx pointer. */
#define cb_set(skb, i, v)                                                                      \
	do {                                                                                   \
		asm volatile("" : "+r"(skb));                                                  \
		(skb)->cb[i] = (v);                                                            \
	} while (0)

/* The endpoints of this node, by IP (cells/maps owns it; the programs reuse the pinned map). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct endpoint_key);
	__type(value, struct endpoint_info);
	__uint(max_entries, LXC_MAP_SIZE);
} cellium_lxc SEC(".maps");

#endif
