/**
 * The cellium_metrics reason under which bpf_xdp counts the packets it drops for their source
 * (ingress direction); datapath-c/bpf_xdp.c defines the same number.
 */
export const REASON_PREFILTER_DENIED = 240;
