// itwillsync: the chime both pages play for attention (a bell, a notification).
//
// Browsers start audio only from a user gesture, so the audio context is created (or
// resumed) on the first tap or key press; until then `itwillsyncChime` stays silent.
"use strict";

(() => {
  let audio = null;

  function unlock() {
    try {
      if (!audio) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (Ctx) audio = new Ctx();
      }
      if (audio && audio.state === "suspended") audio.resume();
    } catch (_) { audio = null; }
  }
  document.addEventListener("pointerdown", unlock, { capture: true });
  document.addEventListener("keydown", unlock, { capture: true });

  /**
   * Plays rising sine tones, one after another.
   * @param {number[]} tones frequencies in Hz
   * @param {number} step seconds between tone starts
   * @param {number} length seconds each tone lasts
   */
  window.itwillsyncChime = function (tones, step, length) {
    if (!audio || audio.state !== "running") return;
    const t0 = audio.currentTime;
    tones.forEach((freq, i) => {
      const start = t0 + i * step;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + length + 0.05);
    });
  };
})();
