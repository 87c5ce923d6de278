/** Unit conversions, in one place. Names carry the unit. */
export const J_PER_KWH = 3.6e6;
export const J_PER_WH = 3600;

export const microjoulesToJoules = (uj: number): number => uj / 1e6;
export const millijoulesToJoules = (mj: number): number => mj / 1e3;
export const milliwattsToWatts = (mw: number): number => mw / 1e3;
export const joulesToKWh = (j: number): number => j / J_PER_KWH;
export const joulesToWh = (j: number): number => j / J_PER_WH;
