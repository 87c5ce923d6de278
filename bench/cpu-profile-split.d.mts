/** See cpu-profile-split.mjs. */
export interface SplitRow { name: string; us: number; share: number }
export interface Split { busyUs: number; idleUs: number; owner: SplitRow[]; self: SplitRow[]; functions: SplitRow[] }
export function splitProfile(prof: unknown, span?: { fromUs?: number; toUs?: number }): Split;
export function formatSplit(split: Split, requests?: number, files?: number, functions?: number): string;
