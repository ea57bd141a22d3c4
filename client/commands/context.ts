/** What commands share: a lazily connected Temporal client (commands that need none never connect). */
import type { Client } from '@temporalio/client';

export type ClientFactory = () => Promise<Client>;
