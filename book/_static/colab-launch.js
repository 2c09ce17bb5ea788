// Colab opens only .ipynb files, and the chapters are MyST Markdown notebooks (.md).
// The publishing workflow (.github/workflows/book.yml) pushes every chapter, executed
// and converted to .ipynb, to the branch `notebooks` under the same path; this script
// points the theme's Colab launch button there. Exercise links (already .ipynb) are
// left alone.
document.addEventListener("DOMContentLoaded", function () {
  var links = document.querySelectorAll('a[href^="https://colab.research.google.com/github/"]');
  links.forEach(function (link) {
    link.href = link.href.replace(/\/blob\/[^/]+\/(.+)\.md$/, "/blob/notebooks/$1.ipynb");
  });
});
