// The BGP-4 speaker (sessions, FSM, adj-RIBs): what the bgp cell uses.
export { newSpeaker } from './speaker.js';
export * from './types.js';
