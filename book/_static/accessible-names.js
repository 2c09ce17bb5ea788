// Label in name (WCAG 2.5.3): the accessible name of a control must contain the text
// it shows, so that a speech-input user can say what they see. Three controls of the
// theme break this rule, and this script repairs them once the page (and Font
// Awesome, which replaces icons with SVG) has set them up.
(function () {
  function repair() {
    // The search fields show "Search Ctrl+K" but are labelled "Search": name them by their text.
    document.querySelectorAll("button.search-button-field[aria-label]").forEach(function (button) {
      button.removeAttribute("aria-label");
    });
    // Folded cells show "Show code cell source" but are labelled "Toggle hidden content".
    document.querySelectorAll("details > summary[aria-label]").forEach(function (summary) {
      summary.removeAttribute("aria-label");
    });
    // The colour-mode button is labelled "Color mode", but the titles of its icons
    // ("Light", "Dark", "System Settings") count as its text: drop them, the
    // button's tooltip already says what it does.
    document.querySelectorAll(".theme-switch-button svg, .theme-switch-button i").forEach(function (icon) {
      icon.removeAttribute("title");
      icon.removeAttribute("aria-labelledby");
      icon.setAttribute("aria-hidden", "true");
      icon.querySelectorAll("title").forEach(function (title) { title.remove(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    repair();
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      new MutationObserver(repair).observe(button, { childList: true, subtree: true });
    });
  });
  window.addEventListener("load", repair);
})();
