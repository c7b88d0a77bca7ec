// Drafts in the tab (docs/web.md): what a person types into a form marked data-keep-draft is kept in
// this tab's sessionStorage, so that a form posted after the sign-in ended comes back filled in once
// they have signed in again. sessionStorage is per tab and gone when the tab closes; localStorage would
// outlive the tab on a shared computer. Without JavaScript or storage the forms are plain forms.
(() => {
  "use strict";
  const PREFIX = "meritloop-draft:";
  const PENDING = "meritloop-draft-pending"; // the key of the form whose post is on its way
  const NOT_KEPT = new Set(["hidden", "password", "file", "submit", "button", "reset", "image"]);
  const script = document.currentScript;
  let store;
  try {
    store = window.sessionStorage;
    store.getItem(PENDING);
  } catch {
    return; // storage is refused (privacy settings): nothing is kept
  }
  const person = document.body.dataset.person || "";
  const pending = store.getItem(PENDING);
  store.removeItem(PENDING);

  const put = (key, value) => {
    try {
      store.setItem(key, value);
    } catch {
      // Over the quota: the form still posts, only the copy in the tab is missing.
    }
  };
  const load = (key) => {
    try {
      const draft = JSON.parse(store.getItem(key));
      return draft && draft.values && typeof draft.values === "object" ? draft : null;
    } catch {
      return null;
    }
  };
  const draftKeys = () => {
    const keys = [];
    for (let i = 0; i < store.length; i += 1) {
      if (store.key(i).startsWith(PREFIX)) keys.push(store.key(i));
    }
    return keys;
  };
  // getAttribute: a control named "action" shadows form.action (the task form's buttons are).
  const keyOf = (form) => `${PREFIX}${form.getAttribute("action")}#${form.dataset.keepDraft}`;
  // Never the CSRF token (hidden anyway), nor what the person could not change.
  const fields = (form) =>
    Array.from(form.elements).filter(
      (field) =>
        field.name &&
        field.name !== "csrf_token" &&
        !NOT_KEPT.has(field.type) &&
        !field.disabled &&
        !field.readOnly,
    );

  const read = (form) => {
    const values = {};
    for (const field of fields(form)) {
      if (field.type === "radio") {
        if (field.checked) values[field.name] = field.value;
      } else if (field.type === "checkbox") {
        if (field.checked) values[field.name] = [...(values[field.name] || []), field.value];
      } else if (field.type === "select-multiple") {
        const chosen = Array.from(field.selectedOptions, (option) => option.value);
        if (chosen.length) values[field.name] = chosen;
      } else if (field.value !== "") {
        values[field.name] = field.value;
      }
    }
    return values;
  };

  const save = (key, form) => {
    const values = read(form);
    if (Object.keys(values).length) put(key, JSON.stringify({ person, values }));
    else store.removeItem(key);
  };

  // A value the page only proposes (a default date, marked data-suggested) is no one's data: what the
  // person typed over it and kept in the tab wins, as long as the field still shows the proposal.
  const suggested = (field) => "suggested" in field.dataset && field.value === field.defaultValue;

  // Fills in what was kept. Only empty fields, suggestions and choices nobody made, unless the draft is the
  // one whose post met the ended sign-in: that is newer than anything the page shows, so it takes the
  // fields over.
  const restore = (form, values, replace) => {
    let restored = false;
    const all = fields(form);
    for (const field of all) {
      const kept = values[field.name];
      if (kept === undefined) continue;
      if (field.type === "radio") {
        const chosen = all.some((other) => other.name === field.name && other.checked);
        if (kept === field.value && !field.checked && (replace || !chosen)) {
          field.checked = true;
          restored = true;
        }
      } else if (field.type === "checkbox") {
        if (kept.includes(field.value) && !field.checked) {
          field.checked = true;
          restored = true;
        }
      } else if (field.type === "select-multiple") {
        if (replace || field.selectedOptions.length === 0) {
          for (const option of field.options) {
            if (option.selected !== kept.includes(option.value)) {
              option.selected = kept.includes(option.value);
              restored = true;
            }
          }
        }
      } else if (field.type === "select-one") {
        const options = Array.from(field.options);
        const unchosen = !options.some((option) => option.defaultSelected);
        if ((replace || unchosen) && field.value !== kept && options.some((option) => option.value === kept)) {
          field.value = kept;
          restored = true;
        }
      } else if (field.value !== kept && (replace || field.value === "" || suggested(field))) {
        field.value = kept;
        restored = true;
      }
    }
    return restored;
  };

  const notice = (form, text) => {
    const note = document.createElement("p");
    note.className = "notice";
    note.setAttribute("role", "status");
    note.textContent = text;
    form.before(note);
  };

  const watch = (form, key) => {
    let timer = 0;
    const keep = () => {
      clearTimeout(timer);
      timer = 0;
      save(key, form);
    };
    form.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(keep, 400);
    });
    form.addEventListener("change", keep);
    form.addEventListener("submit", () => {
      keep();
      put(PENDING, key);
    });
    // Keystrokes still waiting for the pause when the person leaves the page.
    window.addEventListener("pagehide", () => {
      if (timer) keep();
    });
  };

  if (!person) {
    // The sign-in page: a post that ends up here was not accepted. Its draft waits for the person's
    // return and is marked as the one to put back over what the page will show then.
    const draft = pending && load(pending);
    if (draft) {
      put(pending, JSON.stringify({ ...draft, bounced: true }));
      const said = document.getElementById("draft-kept");
      if (said) said.hidden = false;
    }
    return;
  }

  for (const key of draftKeys()) {
    // Someone else signed in in this tab: what the one before typed is not for them.
    if (load(key)?.person !== person) store.removeItem(key);
  }
  // Every form handler answers an accepted post with a redirect (303) and a refused one with the page
  // itself, so arriving here through a redirect means the post was taken: its draft has done its work.
  const [navigation] = performance.getEntriesByType("navigation");
  // Other tabs of this browser may keep their own copy of the same form (sessionStorage is per tab):
  // they hear that it was accepted here, so they do not offer that text again as unsent.
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("meritloop-drafts") : null;
  if (pending && navigation && navigation.redirectCount > 0) {
    store.removeItem(pending);
    if (channel) channel.postMessage({ person, accepted: pending });
  }

  const kept = new Map();
  for (const form of document.querySelectorAll("form[data-keep-draft]")) {
    const key = keyOf(form);
    kept.set(key, form);
    const draft = load(key);
    if (draft && restore(form, draft.values, Boolean(draft.bounced))) {
      notice(form, draft.bounced ? script.dataset.bounced : script.dataset.restored);
    }
    if (draft && draft.bounced) save(key, form);
    watch(form, key);
  }

  if (channel) {
    channel.addEventListener("message", (event) => {
      const { person: sender, accepted } = event.data || {};
      if (sender !== person || typeof accepted !== "string" || !accepted.startsWith(PREFIX)) return;
      if (store.getItem(accepted) === null) return;
      store.removeItem(accepted);
      // The fields still show what was typed in this tab; the person decides whether it still matters.
      const form = kept.get(accepted);
      if (form) notice(form, script.dataset.sentElsewhere);
    });
  }

  const signout = document.querySelector('form[action="/signout"]');
  if (signout) {
    signout.addEventListener("submit", () => {
      for (const key of draftKeys()) store.removeItem(key);
    });
  }
})();
