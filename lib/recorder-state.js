'use strict'
// States of the recorder's control word (lib/recorder.js and its Worker).
module.exports = Object.freeze({ STARTING: 0, RUNNING: 1, STOP: 2, STOPPED: 3, FAILED: 4 })
