/**
 * What commands share: a lazily connected Temporal client for reads (commands that need none never
 * connect), and where the admin API is, with its token, for writes (resolved only when a write runs).
 */
import type { Client } from '@temporalio/client';
import type { AdminTarget } from '../admin';

export type ClientFactory = () => Promise<Client>;
export type AdminFactory = () => AdminTarget;
