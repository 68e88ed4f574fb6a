/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Thread ids for parallelize() workers.  The host decides, and the two releases
 * we build for decide differently: one glue file each, chosen by configure.
 *
 * syslog-ng 3.38 (parallelize-thread-ids-v3.c) gives its I/O threads ids 0..N-1
 * (N: the I/O pool size, --worker-threads, one per CPU by default), and every
 * destination queue keeps a per-thread input table of log_queue_max_threads
 * slots, sized when the queue is created.  A thread with an id collects its
 * pushes in its slot and moves them into the queue once per batch (one lock,
 * one wake-up of the writer); a thread with id -1 takes the queue's lock for
 * every message.  Workers get ids above the I/O pool's: the table is widened by
 * the number of workers the first configuration asks for, while that
 * configuration is parsed (no queue exists yet, so every queue gets the wider
 * table).  The I/O threads keep their ids whatever the workers do.  Workers
 * beyond that reserve (a reload that adds workers, a copy of a parallelize()
 * referenced from two log paths, or no room left below 64) run with id -1, and
 * the module says so.
 *
 * syslog-ng 4.x (parallelize-thread-ids-v4.c) has one pool of 256 ids for every
 * kind of worker thread, sized for each configuration before its pipes
 * initialise from what each pipe announces in its pre_config_init hook; the
 * queues are sized from that.  Every worker announces itself there, so every
 * worker gets an id, after a reload too; a thread beyond the announced number
 * gets -1 from the host, with the host's warning.
 */
#ifndef PARALLELIZE_THREAD_IDS_H_INCLUDED
#define PARALLELIZE_THREAD_IDS_H_INCLUDED

#include "plugin.h"

/* module init, for every configuration */
void parallelize_thread_ids_module_loaded(PluginContext *context);
/* parse time: a parallelize() with this many workers was configured (3.38 widens here) */
void parallelize_thread_ids_parsed(gint workers);
/* pre_config_init, every instance of the configuration about to start (4.x only: 3.38
 * has no such hook, and needs nothing there) */
void parallelize_thread_ids_config_starting(gint workers);
/* main thread, init: no more widening from now on */
void parallelize_thread_ids_close_reserve(void);

/* main thread, before a worker starts: TRUE if it may take an id (then give it back after it stopped) */
gboolean parallelize_thread_ids_take(void);
void parallelize_thread_ids_give_back(void);
/* worker thread: whether the id it was given fits every destination queue */
gboolean parallelize_thread_ids_fits(gint thread_id);
/* the I/O pool's size, as syslog-ng set it */
gint parallelize_thread_ids_io_threads(void);

#endif
