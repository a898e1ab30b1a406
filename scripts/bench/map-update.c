// Baseline for scripts/bench/maps.ts: hash-map updates through libbpf from C, single-element
// and batch, over N keys (u32 key, 16-byte value). Prints JSON: {"single_ns":..,"batch_ns":..}.
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv) {
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 1000000;
	unsigned batch = argc > 2 ? (unsigned)atoi(argv[2]) : 4096;
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "cellium_bench_c", 4, 16, n, NULL);
	if (fd < 0) { fprintf(stderr, "bpf_map_create: %s\n", strerror(-fd)); return 1; }
	unsigned char value[16];
	memset(value, 7, sizeof(value));
	double t0 = now_ns();
	for (unsigned i = 0; i < n; i++) {
		int err = bpf_map_update_elem(fd, &i, value, BPF_ANY);
		if (err) { fprintf(stderr, "update: %s\n", strerror(-err)); return 1; }
	}
	double single = (now_ns() - t0) / n;
	unsigned *keys = malloc(sizeof(unsigned) * batch);
	unsigned char *values = malloc(16 * batch);
	memset(values, 9, 16 * batch);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	t0 = now_ns();
	for (unsigned base = 0; base < n; base += batch) {
		unsigned count = base + batch > n ? n - base : batch;
		for (unsigned j = 0; j < count; j++) keys[j] = base + j;
		int err = bpf_map_update_batch(fd, keys, values, &count, &opts);
		if (err) { fprintf(stderr, "update_batch: %s\n", strerror(-err)); return 1; }
	}
	double batched = (now_ns() - t0) / n;
	printf("{\"single_ns\":%.1f,\"batch_ns\":%.1f}\n", single, batched);
	return 0;
}
