// The page: a form that posts to /v1/videos, and a gallery that polls /v1/videos for progress and plays
// finished videos. Plain DOM, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const cards = new Map(); // video id -> card element, kept so playing videos are not reloaded

function showModeOptions() {
  const mode = $("mode").value;
  for (const label of document.querySelectorAll("#mode-options label")) {
    label.hidden = !label.dataset.modes.split(" ").includes(mode);
  }
}

function requestFields() {
  const fields = { prompt: $("prompt").value.trim(), seed: Number($("seed").value || 0) };
  if ($("size").value) fields.size = $("size").value;
  if ($("steps").value) fields.steps = Number($("steps").value);
  const [kind, amount] = $("length").value.split(":");
  if (kind === "frames") fields.frames = Number(amount);
  if (kind === "seconds") fields.seconds = Number(amount);
  const mode = $("mode").value;
  if (mode === "extend") fields.extend = { video_id: $("video-a").value, direction: $("direction").value };
  if (mode === "loop") fields.loop = true;
  if (mode === "connect") fields.connect = { video_ids: [$("video-a").value, $("video-b").value] };
  if (mode === "edit") fields.edit = { video_id: $("video-a").value, strength: Number($("strength").value) };
  return fields;
}

async function submit(event) {
  event.preventDefault();
  $("message").textContent = "";
  const fields = requestFields();
  let init;
  if ($("mode").value === "image") {
    const file = $("image").files[0];
    if (!file) { $("message").textContent = "choose an image to animate"; return; }
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
    form.append("input_reference", file);
    init = { method: "POST", body: form };
  } else {
    init = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fields) };
  }
  $("submit").disabled = true;
  try {
    const response = await fetch("/v1/videos", init);
    const body = await response.json();
    if (!response.ok) { $("message").textContent = body.error.message; return; }
    render([body]);
    poll();
  } catch (error) {
    $("message").textContent = "the server did not answer: " + error;
  } finally {
    $("submit").disabled = false;
  }
}

function card(video) {
  let el = cards.get(video.id);
  if (!el) {
    el = document.createElement("div");
    el.className = "card";
    el.dataset.id = video.id;
    el.innerHTML = '<div class="media"></div><p class="prompt"></p><progress max="100"></progress>' +
      '<div class="status"></div><div class="error"></div><div class="actions"></div>';
    el.querySelector(".prompt").textContent = video.prompt || "(storyboard)";
    cards.set(video.id, el);
  }
  return el;
}

function update(el, video) {
  if (el.dataset.status === video.status && el.dataset.progress === String(video.progress)) return;
  const changed = el.dataset.status !== video.status;
  el.dataset.status = video.status;
  el.dataset.progress = String(video.progress);
  const finished = video.status === "completed" || video.status === "failed";
  el.querySelector("progress").value = video.progress;
  el.querySelector("progress").hidden = finished;
  el.querySelector(".status").textContent =
    `${video.status.replace("_", " ")} · ${video.mode} · ${video.size} · ${video.seconds} s`;
  el.querySelector(".error").textContent = video.error ? video.error.message : "";
  if (!changed) return;
  const src = `/v1/videos/${video.id}/content`;
  if (video.status === "completed") {
    const player = document.createElement("video");
    Object.assign(player, { src, muted: true, loop: true, autoplay: true, controls: true, playsInline: true });
    player.poster = src + "?variant=thumbnail";
    el.querySelector(".media").replaceChildren(player);
  }
  const actions = el.querySelector(".actions");
  actions.innerHTML = video.status === "completed" ? `<a href="${src}" download="${video.id}.mp4">download</a>` : "";
  const remove = document.createElement("a");
  Object.assign(remove, { href: "#", className: "delete", textContent: finished ? "delete" : "cancel" });
  remove.onclick = (event) => { event.preventDefault(); removeVideo(video.id); };
  actions.appendChild(remove);
}

function render(videos) {
  const gallery = $("gallery");
  for (const video of videos) {
    const el = card(video);
    update(el, video);
    if (!el.parentNode) gallery.prepend(el);
  }
}

function offerFinished(videos) {
  const finished = videos.filter((v) => v.status === "completed");
  for (const select of [$("video-a"), $("video-b")]) {
    const chosen = select.value;
    select.replaceChildren(...finished.map((v) => new Option(`${v.prompt || v.id} (${v.seconds} s)`, v.id)));
    if (finished.some((v) => v.id === chosen)) select.value = chosen;
  }
}

async function removeVideo(id) {
  await fetch(`/v1/videos/${id}`, { method: "DELETE" });
  cards.get(id)?.remove();
  cards.delete(id);
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  let busy = false;
  try {
    const response = await fetch("/v1/videos?limit=100");
    const list = await response.json();
    const videos = list.data.slice().reverse(); // oldest first, so prepending puts the newest on top
    render(videos);
    offerFinished(list.data);
    busy = list.data.some((v) => v.status === "queued" || v.status === "in_progress");
  } catch (error) {
    $("message").textContent = "lost the server: " + error;
  }
  timer = setTimeout(poll, busy ? 500 : 5000);
}

$("mode").addEventListener("change", showModeOptions);
$("create").addEventListener("submit", submit);
showModeOptions();
poll();
