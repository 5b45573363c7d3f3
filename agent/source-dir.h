#pragma once
/* The assignments dir: every *.json file is one spec; inotify makes a change
 * take effect at once. */
struct agent;
struct dir_source;

int dir_source_start(struct agent *a, const char *dir, struct dir_source **ret);
struct dir_source *dir_source_free(struct dir_source *d);
/* Reads the whole dir again (after an inotify queue overflow): new and changed files are applied,
 * instances of files that are gone are removed. */
void dir_source_rescan(struct dir_source *d);
