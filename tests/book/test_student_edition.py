"""The student edition built from the real book: no file of it, the site's pages included, holds a line of solutions/."""

from autograder.edition.build import release
from autograder.edition.scan import scan
from conftest import ROOT


def test_the_student_edition_of_the_built_book_holds_no_solution_hidden_test_or_model_answer(built_book, tmp_path):
    edition = release(ROOT, tmp_path / "student", built_book / "html", log=print)
    pages = list((edition.folder / "site").rglob("*.html"))
    assert len(pages) >= 10 and (edition.folder / "notebooks" / "book").is_dir()
    count, found = scan(edition.folder, edition.secrets)
    print(f"{len(edition.secrets)} lines looked for in {count} texts; {len(edition.shown)} solution lines "
          "shown on purpose by the package or the chapters")
    assert found == [], found[:10]
    # The scan reads the site's highlighted code: the lines the chapters share with solutions/ are found in it.
    _, shown = scan(edition.folder / "site", edition.shown)
    assert any(name.endswith(".html") for name, _ in shown)
