#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <seccomp.h>

#include "runtime/rt-internal.h"

/* Ordinary syscalls a container may make. Names that do not exist on the machine's architecture
 * are dropped when the profile is built, so one list serves x86_64, i386, arm and arm64.
 * Deliberately absent: module loading, kexec, reboot, swap, mount and the new mount API, pivot_root,
 * bpf, perf_event_open, keyrings, ptrace and process_vm_*, userfaultfd, file handles, acct, clock
 * and time setting, iopl/ioperm, quotactl, setns/unshare, kcmp, io_uring, syslog, vhangup, sysfs,
 * _sysctl, ustat, personality (allowed below for safe values only) and clone3 (ENOSYS below).
 * clone and socket are allowed below with an argument filter (no new namespaces, no AF_VSOCK). */
// clang-format off
/* files and directories */
static const char *const sys_files[] = {
	"access", "chdir", "chmod", "chown", "chown32", "close", "close_range", "copy_file_range", "creat",
	"dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
	"fgetxattr", "flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64",
	"fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
	"getdents64", "getxattr", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listxattr",
	"llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "mkdir",
	"mkdirat", "mknod", "mknodat", "newfstatat", "open", "openat", "openat2", "pread64", "preadv",
	"preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
	"readv", "removexattr", "rename", "renameat", "renameat2", "rmdir", "sendfile", "sendfile64",
	"setxattr", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat",
	"sync", "sync_file_range", "sync_file_range2", "arm_sync_file_range", "arm_fadvise64_64", "syncfs",
	"tee", "truncate", "truncate64", "umask", "unlink", "unlinkat", "utime", "utimensat",
	"utimensat_time64", "utimes", "write", "writev", "chroot",
};

/* polling, events, pipes */
static const char *const sys_events[] = {
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
	"eventfd", "eventfd2", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
	"ioctl", "pipe", "pipe2", "poll", "ppoll", "ppoll_time64", "pselect6", "pselect6_time64", "select",
	"_newselect", "signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
	"timerfd_settime", "timerfd_settime64", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
	"io_pgetevents_time64", "io_setup", "io_submit", "memfd_create",
};

/* memory */
static const char *const sys_memory[] = {
	"brk", "get_mempolicy", "madvise", "membarrier", "mincore", "mlock", "mlock2", "mlockall", "mmap",
	"mmap2", "mprotect", "mremap", "msync", "munlock", "munlockall", "munmap", "remap_file_pages",
};

/* processes, threads, signals */
static const char *const sys_procs[] = {
	"arch_prctl", "capget", "capset", "execve", "execveat", "exit", "exit_group", "fork",
	"futex", "futex_time64", "futex_waitv", "get_robust_list", "get_thread_area", "getcpu", "getegid",
	"getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
	"getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getresgid", "getresgid32", "getresuid",
	"getresuid32", "getrlimit", "getrusage", "getsid", "gettid", "getuid", "getuid32", "ioprio_get",
	"ioprio_set", "kill", "pause", "pidfd_open", "pidfd_send_signal", "prctl", "prlimit64",
	"restart_syscall", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
	"sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
	"sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
	"set_robust_list", "set_thread_area", "set_tid_address", "set_tls", "setfsgid", "setfsgid32",
	"setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
	"setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32",
	"setreuid", "setreuid32", "setrlimit", "setsid", "setuid", "setuid32", "sigaltstack", "sigpending",
	"sigprocmask", "sigreturn", "sigsuspend", "tgkill", "tkill", "ugetrlimit", "vfork", "wait4",
	"waitid", "waitpid", "breakpoint", "cacheflush",
};

/* time (reading and sleeping only) */
static const char *const sys_time[] = {
	"alarm", "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "gettimeofday", "nanosleep", "time", "timer_create",
	"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
	"timer_settime64", "times",
};

/* sockets */
static const char *const sys_sockets[] = {
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
	"recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "send", "sendmmsg", "sendmsg",
	"sendto", "setsockopt", "shutdown", "socketcall", "socketpair",
};

/* System V and POSIX IPC (namespaced) */
static const char *const sys_ipc[] = {
	"ipc", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd",
	"semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl", "shmdt",
	"shmget",
};

/* system information */
static const char *const sys_info[] = {
	"getrandom", "sysinfo", "uname",
};

// clang-format on

struct name_list {
	const char *const *names;
	size_t n;
};

static const struct name_list allowed_syscalls[] = {
    {sys_files, ELEMENTSOF(sys_files)},	  {sys_events, ELEMENTSOF(sys_events)},
    {sys_memory, ELEMENTSOF(sys_memory)}, {sys_procs, ELEMENTSOF(sys_procs)},
    {sys_time, ELEMENTSOF(sys_time)},	  {sys_sockets, ELEMENTSOF(sys_sockets)},
    {sys_ipc, ELEMENTSOF(sys_ipc)},	  {sys_info, ELEMENTSOF(sys_info)},
};

static const uint64_t personality_ok[] = {0x0, 0xffffffffULL};

static int arch_names(json_t **ret)
{
	static const char *const x86_64[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
	static const char *const aarch64[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
	static const char *const x86[] = {"SCMP_ARCH_X86"};
	static const char *const arm[] = {"SCMP_ARCH_ARM"};
	uint32_t native = seccomp_arch_native();

	if (native == SCMP_ARCH_X86_64)
		*ret = rt_json_strn(x86_64, ELEMENTSOF(x86_64));
	else if (native == SCMP_ARCH_AARCH64)
		*ret = rt_json_strn(aarch64, ELEMENTSOF(aarch64));
	else if (native == SCMP_ARCH_X86)
		*ret = rt_json_strn(x86, ELEMENTSOF(x86));
	else if (native == SCMP_ARCH_ARM)
		*ret = rt_json_strn(arm, ELEMENTSOF(arm));
	else
		return -EOPNOTSUPP;
	return *ret ? 0 : -ENOMEM;
}

/* Appends the names libseccomp resolves to a real syscall number on this architecture (unknown
 * names give __NR_SCMP_ERROR, names of other architectures a negative pseudo number). */
static int add_resolved(json_t *arr, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (seccomp_syscall_resolve_name(names[i]) < 0)
			continue;
		if (rt_json_append(arr, json_string(names[i])) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int rule_allow(json_t *syscalls)
{
	_cleanup_json_ json_t *rule = json_object();
	json_t *names = NULL;
	int r;

	if (!rule)
		return -ENOMEM;
	names = json_array();
	if (rt_json_set(rule, "names", names) < 0 ||
	    rt_json_set(rule, "action", json_string("SCMP_ACT_ALLOW")) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ELEMENTSOF(allowed_syscalls); i++) {
		r = add_resolved(names, allowed_syscalls[i].names, allowed_syscalls[i].n);
		if (r < 0)
			return r;
	}
	return rt_json_append(syscalls, TAKE_PTR(rule));
}

/* clone3 cannot be filtered by its flags (they sit in a struct the filter cannot read), so it fails
 * with ENOSYS and libc falls back to clone, whose flags the rule below checks. */
static int rule_clone3(json_t *syscalls)
{
	static const char *const clone3[] = {"clone3"};
	_cleanup_json_ json_t *rule = json_object();
	json_t *names = NULL;
	int r;

	if (!rule)
		return -ENOMEM;
	names = json_array();
	if (rt_json_set(rule, "names", names) < 0)
		return -ENOMEM;
	r = add_resolved(names, clone3, ELEMENTSOF(clone3));
	if (r < 0)
		return r;
	if (json_array_size(names) == 0)
		return 0; /* no clone3 on this architecture */
	if (rt_json_set(rule, "action", json_string("SCMP_ACT_ERRNO")) < 0 ||
	    rt_json_set(rule, "errnoRet", json_integer(ENOSYS)) < 0)
		return -ENOMEM;
	return rt_json_append(syscalls, TAKE_PTR(rule));
}

/* One argument condition of a rule: {"index", "value", "valueTwo", "op"}. */
struct arg_cond {
	unsigned int index;
	uint64_t value;
	uint64_t value_two;
	const char *op;
};

/* Allows name when its argument matches cond; nothing when name does not exist on this architecture. */
static int rule_allow_if(json_t *syscalls, const char *name, const struct arg_cond *cond)
{
	_cleanup_json_ json_t *rule = json_object();
	_cleanup_json_ json_t *arg = json_object();
	json_t *args = NULL, *names = NULL;
	int r;

	if (!rule || !arg)
		return -ENOMEM;
	names = json_array();
	if (rt_json_set(rule, "names", names) < 0)
		return -ENOMEM;
	r = add_resolved(names, &name, 1);
	if (r < 0)
		return r;
	if (json_array_size(names) == 0)
		return 0;
	if (rt_json_set(rule, "action", json_string("SCMP_ACT_ALLOW")) < 0)
		return -ENOMEM;
	if (rt_json_set(arg, "index", json_integer(cond->index)) < 0 ||
	    rt_json_set(arg, "value", json_integer((json_int_t)cond->value)) < 0 ||
	    rt_json_set(arg, "valueTwo", json_integer((json_int_t)cond->value_two)) < 0 ||
	    rt_json_set(arg, "op", json_string(cond->op)) < 0)
		return -ENOMEM;
	args = json_array();
	if (rt_json_set(rule, "args", args) < 0 || rt_json_append(args, TAKE_PTR(arg)) < 0)
		return -ENOMEM;
	return rt_json_append(syscalls, TAKE_PTR(rule));
}

/* clone is allowed only without namespace flags (as Docker's profile): the flags masked with
 * CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET must be 0. CLONE_NEWUSER needs no
 * capability, so without this any container could open a user namespace and, inside it, a network
 * namespace where it holds CAP_NET_ADMIN (the nf_tables exploit surface). s390 passes the flags
 * second. socket is allowed for every family but AF_VSOCK (host-guest sockets), as Docker does. */
static int rules_filtered(json_t *syscalls)
{
	uint32_t native = seccomp_arch_native();
	const struct arg_cond clone_flags = {
	    .index = (native == SCMP_ARCH_S390X || native == SCMP_ARCH_S390) ? 1 : 0,
	    .value = RT_SECCOMP_CLONE_NS_MASK,
	    .value_two = 0,
	    .op = "SCMP_CMP_MASKED_EQ",
	};
	const struct arg_cond not_vsock = {.index = 0, .value = RT_SECCOMP_AF_VSOCK, .op = "SCMP_CMP_NE"};
	int r;

	r = rule_allow_if(syscalls, "clone", &clone_flags);
	if (r < 0)
		return r;
	r = rule_allow_if(syscalls, "socket", &not_vsock);
	if (r < 0)
		return r;
	/* personality(2) stays usable for the query (0xffffffff) and for PER_LINUX (0) */
	for (size_t i = 0; i < ELEMENTSOF(personality_ok); i++) {
		const struct arg_cond eq = {.index = 0, .value = personality_ok[i], .op = "SCMP_CMP_EQ"};

		r = rule_allow_if(syscalls, "personality", &eq);
		if (r < 0)
			return r;
	}
	return 0;
}

static int build_rules(json_t *syscalls)
{
	int r;

	r = rule_allow(syscalls);
	if (r < 0)
		return r;
	r = rule_clone3(syscalls);
	if (r < 0)
		return r;
	return rules_filtered(syscalls);
}

int rt_seccomp_default(json_t **ret, struct err **err)
{
	_cleanup_json_ json_t *prof = json_object();
	json_t *archs = NULL, *syscalls = NULL;
	int r;

	if (!prof)
		return err_set(err, ENOMEM, "seccomp profile");
	r = arch_names(&archs);
	if (r == -EOPNOTSUPP)
		return err_set(err, EOPNOTSUPP, "seccomp profile: architecture 0x%x is not supported",
			       seccomp_arch_native());
	if (r < 0)
		return err_set(err, -r, "seccomp profile: architectures");
	/* archs first: it is owned by prof (or released) before anything else can fail */
	if (rt_json_set(prof, "architectures", archs) < 0 ||
	    rt_json_set(prof, "defaultAction", json_string("SCMP_ACT_ERRNO")) < 0 ||
	    rt_json_set(prof, "defaultErrnoRet", json_integer(EPERM)) < 0)
		return err_set(err, ENOMEM, "seccomp profile");
	syscalls = json_array();
	if (rt_json_set(prof, "syscalls", syscalls) < 0)
		return err_set(err, ENOMEM, "seccomp profile");
	r = build_rules(syscalls);
	if (r < 0)
		return err_set(err, -r, "seccomp profile: syscall rules");
	*ret = TAKE_PTR(prof);
	return 0;
}
