/*
 * seal_cost: what each way of sealing berth's binary costs (CVE-2019-5736), without the
 * execve both share. Run as root:
 *
 *   cc -O2 -o /tmp/seal_cost benches/seal_cost.c && /tmp/seal_cost target/berth-release/berth
 *
 * Prints the median of 200 rounds of: a detached read-only bind mount of the binary
 * (open_tree + mount_setattr, what berth does), and a sealed memfd copy of it
 * (memfd_create + sendfile + F_ADD_SEALS, runc 1.1's way and berth's fallback).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/mount.h>

#define ROUNDS 200

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int ro_bind(const char *path)
{
	int tree = syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
		return -1;
	return tree;
}

static int memfd_copy(const char *path)
{
	int exe = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (exe < 0 || fstat(exe, &st) < 0)
		return -1;
	int copy = memfd_create("berth", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t done = 0;
	while (done < st.st_size) {
		ssize_t n = sendfile(copy, exe, NULL, st.st_size - done);
		if (n <= 0)
			return -1;
		done += n;
	}
	close(exe);
	if (fcntl(copy, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
		return -1;
	return copy;
}

static double median_of(int (*seal)(const char *), const char *path)
{
	double t[ROUNDS];
	for (int i = 0; i < ROUNDS; i++) {
		double start = now_us();
		int fd = seal(path);
		if (fd < 0) {
			perror("seal");
			exit(1);
		}
		close(fd);
		t[i] = now_us() - start;
	}
	qsort(t, ROUNDS, sizeof t[0], cmp);
	return t[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seal_cost BINARY\n");
		return 2;
	}
	struct stat st;
	if (stat(argv[1], &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	printf("%s: %.1f MiB\n", argv[1], st.st_size / 1048576.0);
	printf("read-only bind mount (open_tree + mount_setattr): %8.1f us\n", median_of(ro_bind, argv[1]));
	printf("sealed memfd copy (memfd_create + sendfile):      %8.1f us\n", median_of(memfd_copy, argv[1]));
	return 0;
}
