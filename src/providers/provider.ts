// Transitional: the Provider port now lives in the core (core/provider-port.ts).
// Kept only while work in progress still imports this path; import the core's file.
export type * from '../core/provider-port.ts';
