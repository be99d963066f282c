// labkit review: typesets math, saves grades as they are made, and drives the keyboard.
// Served as a static file because the Content-Security-Policy forbids inline script.
"use strict";

(function () {
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  const statusBox = document.getElementById("status");

  function showError(message) {
    statusBox.textContent = message;
    statusBox.hidden = false;
    statusBox.classList.add("error");
  }

  function clearError() {
    statusBox.hidden = true;
    statusBox.textContent = "";
  }

  // Every change goes through here: JSON in, JSON out, and a refusal is shown, never swallowed.
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
        body: JSON.stringify(body || {}),
      });
    } catch (err) {
      showError("Not saved: the review server cannot be reached (" + err + ").");
      throw err;
    }
    let data = {};
    try {
      data = await response.json();
    } catch (err) {
      data = {};
    }
    if (!response.ok) {
      const message = "Not saved: " + (data.error || response.status + " " + response.statusText);
      showError(message);
      throw new Error(message);
    }
    clearError();
    return data;
  }

  function typesetMath() {
    if (typeof katex === "undefined") {
      return;
    }
    document.querySelectorAll(".rendered .math").forEach(function (element) {
      const tex = element.textContent;
      try {
        // trust stays false so \href, \url and friends cannot make links or run anything.
        katex.render(tex, element, {
          displayMode: element.tagName === "DIV",
          throwOnError: false,
          trust: false,
          maxSize: 20,
          maxExpand: 500,
        });
      } catch (err) {
        element.textContent = tex;
      }
    });
  }

  function setupAnonymousToggle() {
    const toggle = document.getElementById("anonymous-toggle");
    if (!toggle) {
      return;
    }
    toggle.addEventListener("click", async function () {
      const on = toggle.dataset.anonymous !== "true";
      await post("/api/anonymous", { anonymous: on });
      window.location.reload();
    });
  }

  function setupQuestionPage() {
    const root = document.getElementById("question");
    if (!root) {
      return;
    }
    const question = root.dataset.question;
    const answers = Array.from(document.querySelectorAll(".answer"));
    let current = -1;

    function updateProgress(progress) {
      if (progress) {
        document.getElementById("progress-graded").textContent = progress.graded;
        document.getElementById("progress-total").textContent = progress.total;
        document.getElementById("progress-stale").textContent = progress.stale;
        document.getElementById("progress-stale-note").hidden = !progress.stale;
      }
    }

    function formatScore(score) {
      return score === null || score === undefined ? "" : String(score);
    }

    function showGrade(section, grade) {
      const score = section.querySelector(".score");
      if (document.activeElement !== score) {
        score.value = formatScore(grade.score);
      }
      section.classList.toggle("graded", grade.score !== null && !grade.stale);
      section.querySelector(".stale").hidden = !grade.stale;
      const replaced = section.querySelector(".replaced-rubric");
      replaced.hidden = !(grade.replaced_rubric && grade.replaced_rubric.length);
      replaced.querySelector(".replaced-items").textContent = (grade.replaced_rubric || []).join("; ");
      section.querySelectorAll(".rubric-toggle").forEach(function (button) {
        const applied = grade.rubric_ids.includes(Number(button.dataset.item));
        button.setAttribute("aria-pressed", applied ? "true" : "false");
      });
    }

    function markSaved(section, text) {
      section.querySelector(".save-state").textContent = text;
    }

    // Rubric changes reload the page (every answer's buttons change); keep the TA's place.
    function reloadKeepingPlace() {
      if (current >= 0) {
        const name = answers[current].dataset.submission;
        history.replaceState(null, "", "#" + encodeURIComponent(name));
      }
      window.location.reload();
    }

    function select(index) {
      if (answers.length === 0) {
        return;
      }
      current = Math.max(0, Math.min(answers.length - 1, index));
      answers.forEach(function (section, i) {
        section.classList.toggle("current", i === current);
      });
      answers[current].focus({ preventScroll: true });
      answers[current].scrollIntoView({ block: "start", behavior: "auto" });
    }

    async function toggleRubric(section, button) {
      const applied = button.getAttribute("aria-pressed") !== "true";
      try {
        const data = await post("/api/rubric/" + button.dataset.item + "/apply", {
          submission: section.dataset.submission,
          question: question,
          applied: applied,
        });
        showGrade(section, data.grade);
        updateProgress(data.progress);
        markSaved(section, "saved");
      } catch (err) {
        markSaved(section, "not saved");
      }
    }

    answers.forEach(function (section, index) {
      const score = section.querySelector(".score");
      const comment = section.querySelector(".comment");
      section.addEventListener("focusin", function () {
        current = index;
        answers.forEach(function (other, i) {
          other.classList.toggle("current", i === index);
        });
      });
      score.addEventListener("change", async function () {
        const text = score.value.trim();
        const value = text === "" ? null : Number(text);
        if (text !== "" && !Number.isFinite(value)) {
          showError("Not saved: the score must be a number.");
          return;
        }
        try {
          const data = await post("/api/score", {
            submission: section.dataset.submission,
            question: question,
            score: value,
          });
          score.classList.remove("refused");
          showGrade(section, data.grade);
          updateProgress(data.progress);
          markSaved(section, "saved");
        } catch (err) {
          score.classList.add("refused");
          markSaved(section, "not saved");
        }
      });
      // A comment saves when the field is left, and also after a pause in typing, so that
      // closing the tab mid-comment loses at most the last second.
      let commentTimer = null;
      comment.addEventListener("input", function () {
        clearTimeout(commentTimer);
        commentTimer = setTimeout(function () {
          comment.dispatchEvent(new Event("change"));
        }, 1000);
      });
      comment.addEventListener("change", async function () {
        clearTimeout(commentTimer);
        if (comment.value === comment.dataset.saved) {
          return;
        }
        try {
          await post("/api/comment", {
            submission: section.dataset.submission,
            question: question,
            comment: comment.value,
          });
          comment.dataset.saved = comment.value;
          markSaved(section, "saved");
        } catch (err) {
          markSaved(section, "not saved");
        }
      });
      section.querySelectorAll(".rubric-toggle").forEach(function (button) {
        button.addEventListener("click", function () {
          toggleRubric(section, button);
        });
      });
      // A stale score counts again once a TA keeps it for the changed answer.
      section.querySelector(".confirm-score").addEventListener("click", async function () {
        try {
          const data = await post("/api/confirm", {
            submission: section.dataset.submission,
            question: question,
          });
          showGrade(section, data.grade);
          updateProgress(data.progress);
          markSaved(section, "saved");
        } catch (err) {
          markSaved(section, "not saved");
        }
      });
    });

    document.addEventListener("keydown", function (event) {
      const target = event.target;
      const typing = target.matches("input, textarea");
      if (event.key === "Escape" && typing) {
        target.blur();
        if (current >= 0) {
          answers[current].focus({ preventScroll: true });
        }
        return;
      }
      if (typing || event.ctrlKey || event.metaKey || event.altKey) {
        return;
      }
      if (event.key === "j") {
        select(current + 1);
      } else if (event.key === "k") {
        select(current - 1);
      } else if (/^[1-9]$/.test(event.key) && current >= 0) {
        const buttons = answers[current].querySelectorAll(".rubric-toggle");
        const button = buttons[Number(event.key) - 1];
        if (button) {
          toggleRubric(answers[current], button);
        }
      } else if (event.key === "s" && current >= 0) {
        answers[current].querySelector(".score").focus();
      } else if (event.key === "c" && current >= 0) {
        answers[current].querySelector(".comment").focus();
      } else {
        return;
      }
      event.preventDefault();
    });

    const addForm = document.getElementById("rubric-add");
    addForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const points = Number(addForm.elements.points.value);
      try {
        await post("/api/rubric", {
          question: question,
          points: points,
          text: addForm.elements.text.value,
        });
        reloadKeepingPlace();
      } catch (err) {
        // the refusal is already on screen
      }
    });

    document.querySelectorAll(".rubric-item").forEach(function (row) {
      row.querySelector(".rubric-save").addEventListener("click", async function () {
        try {
          const data = await post("/api/rubric/" + row.dataset.item, {
            points: Number(row.querySelector(".rubric-points").value),
            text: row.querySelector(".rubric-text").value,
          });
          // The item's new points changed the score of every answer it is applied to.
          reloadKeepingPlace();
          return data;
        } catch (err) {
          return null;
        }
      });
      row.querySelector(".rubric-delete").addEventListener("click", async function () {
        try {
          await post("/api/rubric/" + row.dataset.item + "/delete", {});
          reloadKeepingPlace();
        } catch (err) {
          // the refusal is already on screen
        }
      });
    });

    // Arriving from a submission's page, or reloading after a rubric change, with #name in
    // the address selects that submission's answer.
    let wanted = "";
    try {
      wanted = decodeURIComponent(window.location.hash.slice(1));
    } catch (err) {
      wanted = "";
    }
    const start = answers.findIndex(function (section) {
      return section.dataset.submission === wanted;
    });
    if (start >= 0) {
      select(start);
    }
  }

  // Tables whose headings sort them: numbers as numbers (empty cells last), text as text.
  function setupSortableTables() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      const headings = Array.from(table.tHead.rows[0].cells);
      headings.forEach(function (heading, column) {
        const button = heading.querySelector("button.sort");
        if (!button) {
          return;
        }
        button.addEventListener("click", function () {
          const ascending = heading.getAttribute("aria-sort") !== "ascending";
          headings.forEach(function (other) {
            other.removeAttribute("aria-sort");
          });
          heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
          const numeric = heading.dataset.sortType === "number";
          const body = table.tBodies[0];
          const rows = Array.from(body.rows);
          function value(row) {
            const cell = row.cells[column];
            return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
          }
          rows.sort(function (a, b) {
            const x = value(a);
            const y = value(b);
            if (numeric) {
              if (x === "" || y === "") {
                return (x === "") - (y === "");
              }
              return ascending ? Number(x) - Number(y) : Number(y) - Number(x);
            }
            return ascending ? x.localeCompare(y) : y.localeCompare(x);
          });
          rows.forEach(function (row) {
            body.appendChild(row);
          });
        });
      });
    });
  }

  // A submission's page: override an autograded question's score, with a reason.
  function setupOverrides() {
    const title = document.getElementById("submission-title");
    if (!title) {
      return;
    }
    document.querySelectorAll(".override-form").forEach(function (form) {
      const state = form.querySelector(".save-state");
      async function send(score, reason) {
        try {
          await post("/api/override", {
            submission: title.dataset.submission,
            question: form.dataset.question,
            score: score,
            reason: reason,
          });
          window.location.reload();
        } catch (err) {
          state.textContent = "not saved";
        }
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        const text = form.elements.score.value.trim();
        if (text === "" || !Number.isFinite(Number(text))) {
          showError("Not saved: the override needs a score (a number).");
          return;
        }
        send(Number(text), form.elements.reason.value);
      });
      form.querySelector(".override-clear").addEventListener("click", function () {
        send(null, null);
      });
    });
  }

  typesetMath();
  setupAnonymousToggle();
  setupQuestionPage();
  setupSortableTables();
  setupOverrides();
})();
