// This Waifu Does Not Exist: swap in a new face and its character card every interval with a
// cross-fade.
// Plain JavaScript; the page also works without it (the server fills in the first face).
"use strict";

(() => {
  const app = document.getElementById("app");
  const faces = [document.getElementById("face-a"), document.getElementById("face-b")];
  const seedText = document.getElementById("seed");
  const psiText = document.getElementById("psi-shown");
  const psiInput = document.getElementById("psi");
  const pngLink = document.getElementById("png-link");
  const permalink = document.getElementById("permalink");
  const status = document.getElementById("status");
  const form = document.getElementById("controls");
  const pauseButton = document.getElementById("pause");
  const cardBox = document.getElementById("card");
  const cardName = document.getElementById("card-name");
  const cardTags = document.getElementById("card-tags");
  const cardStory = document.getElementById("card-story");

  const intervalMs = Number(app.dataset.intervalS) * 1000;
  const seedMax = Number(app.dataset.seedMax);
  let seed = Number(app.dataset.seed);
  let psi = Number(app.dataset.psi);
  let front = 0; // index of the visible <img>
  let paused = app.dataset.pinned === "true"; // a permalink keeps showing its face
  let timer = null;
  let loading = 0; // generation counter: only the newest request may swap in

  const faceUrl = (s, p) => `/api/face?seed=${s}&psi=${p.toFixed(2)}`;
  const cardUrl = (s, p) => `/api/card?seed=${s}&psi=${p.toFixed(2)}`;

  async function fetchCard(s, p) {
    try {
      const answer = await fetch(cardUrl(s, p));
      return answer.ok ? await answer.json() : null;
    } catch (error) {
      return null;
    }
  }

  function showCard(card) {
    if (!card) {
      cardBox.hidden = true; // never leave the previous face's card under a new face
      return;
    }
    cardName.textContent = card.name;
    cardTags.replaceChildren(...card.tags.map(({ tag, confidence }) => {
      const item = document.createElement("li");
      item.textContent = tag.replaceAll("_", " ");
      const sure = document.createElement("small");
      sure.textContent = `${Math.round(confidence * 100)}%`;
      item.append(sure);
      return item;
    }));
    cardStory.textContent = card.story;
    cardBox.dataset.seed = String(card.seed);
    cardBox.hidden = false;
  }

  function randomSeed() {
    const value = new Uint32Array(1);
    crypto.getRandomValues(value);
    return value[0] % (seedMax + 1);
  }

  function showText() {
    seedText.textContent = String(seed);
    psiText.textContent = psi.toFixed(2);
    pngLink.href = faceUrl(seed, psi);
    permalink.href = `/?seed=${seed}&psi=${psi.toFixed(2)}`;
    app.dataset.seed = String(seed);
    app.dataset.psi = psi.toFixed(2);
  }

  async function show(newSeed, newPsi) {
    const ticket = ++loading;
    const back = faces[1 - front];
    const url = faceUrl(newSeed, newPsi);
    const probe = new Image();
    probe.src = url;
    const cardLoad = fetchCard(newSeed, newPsi); // the card is written while the face decodes
    try {
      await probe.decode(); // fetch and decode off-screen, so the fade never shows a blank
    } catch (error) {
      if (ticket === loading) status.textContent = "busy, retrying…";
      return;
    }
    const card = await cardLoad;
    if (ticket !== loading) return;
    showCard(card);
    back.src = url;
    back.alt = `A generated anime face (seed ${newSeed})`;
    back.classList.add("visible");
    faces[front].classList.remove("visible");
    front = 1 - front;
    seed = newSeed;
    psi = newPsi;
    status.textContent = "";
    showText();
  }

  function restartTimer() {
    if (timer !== null) clearInterval(timer);
    timer = paused ? null : setInterval(() => show(randomSeed(), psi), intervalMs);
    pauseButton.textContent = paused ? "Play" : "Pause";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault(); // without JavaScript the form reloads "/" for a new seed
    show(randomSeed(), Number(psiInput.value));
    restartTimer();
  });
  psiInput.addEventListener("change", () => show(seed, Number(psiInput.value)));
  psiInput.addEventListener("input", () => { psiText.textContent = Number(psiInput.value).toFixed(2); });
  pauseButton.addEventListener("click", () => { paused = !paused; restartTimer(); });

  pauseButton.hidden = false;
  showText();
  fetchCard(seed, psi).then((card) => { if (loading === 0) showCard(card); });
  restartTimer();
})();
