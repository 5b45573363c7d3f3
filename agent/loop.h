#pragma once
/* The agent's one event loop: epoll over fds (signals, inotify, the API,
 * shim sync pipes and pidfds) plus one timerfd for every timer. No polling. */
#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(struct loop *l, int fd, uint32_t events, void *data);
typedef void (*loop_timer_cb)(struct loop *l, void *data);

int loop_new(struct loop **ret);
struct loop *loop_free(struct loop *l);
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_cb cb, void *data);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Removes fd from the loop (does not close it). Safe to call from inside callbacks. */
void loop_del_fd(struct loop *l, int fd);
/* One-shot timer at now + delay_ms (monotonic); returns a handle to cancel it. */
struct loop_timer *loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_cb cb, void *data);
/* One-shot timer at an absolute monotonic time in ns: timers given the same time share one wake-up. */
struct loop_timer *loop_timer_add_at(struct loop *l, int64_t deadline_ns, loop_timer_cb cb, void *data);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);
/* Runs until loop_quit; returns the value given to loop_quit. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);
