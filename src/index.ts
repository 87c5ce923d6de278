// Library entry point (`import { … } from 'inferwatt'`). Filled in as stages land.
export type * from './sensors/types.js';
export type * from './energy/types.js';
export type * from './attribution/types.js';
