"""The P4 preprocessor: directives as cpp runs them, and positions mapped back."""

from __future__ import annotations

from pathlib import Path

import pytest

from p4sim.errors import PreprocessorError, SourcePos
from p4sim.frontend.preprocess import (
    BUILTIN_INCLUDE_DIR,
    PreprocessedSource,
    preprocess_file,
    preprocess_text,
)


def lines(source: PreprocessedSource) -> list[str]:
    return [line.strip() for line in source.text.splitlines()]


def words(source: PreprocessedSource) -> list[str]:
    return source.text.split()


def position_of(source: PreprocessedSource, needle: str, nth: int = 0) -> SourcePos:
    """Where the `nth` occurrence of `needle` in the output came from."""
    found = 0
    for number, line in enumerate(source.text.splitlines(), 1):
        start = 0
        while (col := line.find(needle, start)) >= 0:
            if found == nth:
                return source.line_map.lookup(number, col + 1)
            found += 1
            start = col + 1
    raise AssertionError(f"{needle!r} not in output")


# ------------------------------------------------------------------ macros


def test_object_macro_expands_and_maps_to_the_macro_name() -> None:
    out = preprocess_text("#define W 16\nbit<W> x;\n", "m.p4")
    assert words(out) == ["bit<", "16", ">", "x;"]
    assert position_of(out, "16") == SourcePos("m.p4", 2, 5)
    # Text after the expansion keeps its own columns.
    assert position_of(out, "x;") == SourcePos("m.p4", 2, 8)


def test_function_macro_with_nested_macros_in_arguments() -> None:
    src = "#define ONE 1\n#define ADD(a, b) ((a) + (b))\nconst int x = ADD(ONE, ADD(2, 3));\n"
    out = preprocess_text(src)
    assert "".join(words(out)) == "constintx=((1)+(((2)+(3))));"


def test_function_macro_name_without_arguments_is_left_alone() -> None:
    out = preprocess_text("#define F(a) a\nF;\n")
    assert words(out) == ["F;"]


def test_stringify_and_token_paste() -> None:
    src = '#define S(x) #x\n#define CAT(a, b) a ## b\nCAT(ipv, 4) S(hi "there")\n'
    out = preprocess_text(src)
    assert words(out)[0] == "ipv4"
    assert out.text.split("ipv4", 1)[1].strip() == '"hi \\"there\\""'


def test_self_referential_macro_stops_expanding() -> None:
    out = preprocess_text("#define X X + 1\nX\n")
    assert words(out) == ["X", "+", "1"]


def test_macros_are_not_expanded_in_comments_or_strings() -> None:
    src = '#define A 7\n"A" // A\n/* A */ A\n'
    out = preprocess_text(src)
    assert lines(out) == ['"A"', "7"]


def test_undef_removes_a_macro() -> None:
    out = preprocess_text("#define A 1\n#undef A\nA\n")
    assert words(out) == ["A"]


def test_defines_argument_and_predefined_target_macro() -> None:
    src = "#ifdef __TARGET_BMV2__\nbmv2 SIZE\n#endif\n"
    out = preprocess_text(src, defines={"SIZE": "1024"})
    assert words(out) == ["bmv2", "1024"]


def test_wrong_argument_count_is_an_error() -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_text("#define F(a, b) a\nx = F(1);\n", "m.p4")
    assert str(info.value) == "m.p4:2:5: error: macro 'F' takes 2 argument(s), got 1"


# ------------------------------------------------------------ conditionals


@pytest.mark.parametrize(
    ("condition", "taken"),
    [
        ("1", True),
        ("0", False),
        ("V >= 20200408", True),
        ("V < 20200408", False),
        ("defined(V) && !defined(NOPE)", True),
        ("defined V || 0", True),
        ("(2 + 3) * 4 == 20 && 7 / 2 == 3 && 7 % 4 == 3", True),
        ("1 << 4 == 16 && (0x10 | 0b1) == 17 && (6 & 3) == 2 && (5 ^ 1) == 4", True),
        ("UNKNOWN_NAME", False),
        ("-1 < 0 ? 010 == 8 : 0", True),
        ("~0 != 0", True),
    ],
)
def test_if_expressions(condition: str, taken: bool) -> None:
    src = f"#define V 20200408\n#if {condition}\nyes\n#else\nno\n#endif\n"
    assert words(preprocess_text(src)) == (["yes"] if taken else ["no"])


def test_elif_chain_takes_the_first_true_branch_only() -> None:
    src = "#if 0\na\n#elif 1\nb\n#elif 1\nc\n#else\nd\n#endif\n"
    assert words(preprocess_text(src)) == ["b"]


def test_ifdef_ifndef_and_nesting_inside_a_skipped_group() -> None:
    src = (
        "#define ON\n"
        "#ifndef ON\n"
        "#if 1\nskipped\n#endif\n#error not reached\n"
        "#else\n"
        "#ifdef ON\nkept\n#endif\n"
        "#endif\n"
    )
    assert words(preprocess_text(src)) == ["kept"]


def test_unterminated_if_names_the_if() -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_text("a\n  #ifdef X\nb\n", "u.p4")
    assert str(info.value) == "u.p4:2:3: error: unterminated conditional directive"


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("#endif\n", "#endif without #if"),
        ("#else\n", "#else without #if"),
        ("#if 1\n#else\n#elif 1\n#endif\n", "#elif after #else"),
        ("#if 1 / 0\n#endif\n", "division by zero in #if expression"),
        ("#if (1\n#endif\n", "missing ')' in #if expression"),
        ("#if\n#endif\n", "#if with no expression"),
        ("#frobnicate\n", "unknown preprocessor directive #frobnicate"),
    ],
)
def test_malformed_directives(src: str, message: str) -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_text(src, "d.p4")
    assert info.value.message == message
    assert info.value.pos is not None and info.value.pos.file == "d.p4"


def test_error_directive_reports_its_text_and_position() -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_text("ok\n#if 1\n#error too old: need V2\n#endif\n", "e.p4")
    assert str(info.value) == "e.p4:3:1: error: #error too old: need V2"


def test_pragmas_line_and_warning_are_ignored() -> None:
    src = '#pragma foo bar\n#line 10 "x"\n#warning careful\nbody\n'
    assert words(preprocess_text(src)) == ["body"]


# ------------------------------------------------------------- line shapes


def test_line_continuation_joins_lines_and_keeps_positions() -> None:
    out = preprocess_text("#define LONG 1 + \\\n  2\nx = LONG; y = 3 + \\\n    4;\n", "c.p4")
    assert "".join(words(out)) == "x=1+2;y=3+4;"
    assert len(lines(out)) == 1
    assert position_of(out, "y") == SourcePos("c.p4", 3, 11)
    assert position_of(out, "4;") == SourcePos("c.p4", 4, 5)


def test_block_comment_across_lines_keeps_columns_after_it() -> None:
    out = preprocess_text("a /* one\ntwo */ b\n", "k.p4")
    assert words(out) == ["a", "b"]
    assert position_of(out, "b") == SourcePos("k.p4", 2, 8)


def test_unterminated_comment_is_an_error() -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_text("x\n  /* never closed\n", "k.p4")
    assert str(info.value) == "k.p4:2:3: error: unterminated comment"


# ----------------------------------------------------------------- includes


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_quoted_include_searches_the_including_directory_first(tmp_path: Path) -> None:
    main = write(tmp_path / "src" / "main.p4", '#include "inc/defs.p4"\nmain\n')
    write(tmp_path / "src" / "inc" / "defs.p4", "from_src\n")
    write(tmp_path / "other" / "inc" / "defs.p4", "from_other\n")
    out = preprocess_file(main, include_dirs=[tmp_path / "other"])
    assert words(out) == ["from_src", "main"]


def test_angle_include_skips_the_including_directory(tmp_path: Path) -> None:
    main = write(tmp_path / "src" / "main.p4", "#include <defs.p4>\n")
    write(tmp_path / "src" / "defs.p4", "from_src\n")
    write(tmp_path / "other" / "defs.p4", "from_other\n")
    out = preprocess_file(main, include_dirs=[tmp_path / "other"])
    assert words(out) == ["from_other"]


def test_include_dirs_come_before_the_builtin_files(tmp_path: Path) -> None:
    write(tmp_path / "mine" / "core.p4", "my_core\n")
    out = preprocess_text("#include <core.p4>\n", include_dirs=[tmp_path / "mine"])
    assert words(out) == ["my_core"]


def test_builtin_includes_are_found_without_include_dirs() -> None:
    out = preprocess_text("#include <v1model.p4>\n")
    assert str(BUILTIN_INCLUDE_DIR / "core.p4") in out.files
    assert str(BUILTIN_INCLUDE_DIR / "v1model.p4") in out.files
    assert "V1Switch" in out.text


def test_positions_inside_included_files(tmp_path: Path) -> None:
    write(tmp_path / "hdr.p4", "// header file\n\n   header_line\n")
    main = write(tmp_path / "main.p4", 'before\n#include "hdr.p4"\n  after\n')
    out = preprocess_file(main)
    assert position_of(out, "before") == SourcePos(str(main), 1, 1)
    assert position_of(out, "header_line") == SourcePos(str(tmp_path / "hdr.p4"), 3, 4)
    assert position_of(out, "after") == SourcePos(str(main), 3, 3)


def test_include_guards_and_pragma_once(tmp_path: Path) -> None:
    write(tmp_path / "guarded.p4", "#ifndef G\n#define G\nguarded\n#endif\n")
    write(tmp_path / "once.p4", "#pragma once\nonce\n")
    main = write(
        tmp_path / "main.p4",
        '#include "guarded.p4"\n#include "guarded.p4"\n#include "once.p4"\n#include "once.p4"\n',
    )
    assert words(preprocess_file(main)) == ["guarded", "once"]


def test_missing_include_points_at_the_file_name(tmp_path: Path) -> None:
    main = write(tmp_path / "main.p4", 'ok\n#include   "absent.p4"\n')
    with pytest.raises(PreprocessorError) as info:
        preprocess_file(main)
    assert str(info.value) == f"{main}:2:12: error: cannot find include file 'absent.p4'"


def test_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    inner = write(tmp_path / "inner.p4", "\n#error from inner\n")
    main = write(tmp_path / "main.p4", '#include "inner.p4"\n')
    with pytest.raises(PreprocessorError) as info:
        preprocess_file(main)
    assert str(info.value) == f"{inner}:2:1: error: #error from inner"


def test_recursive_include_is_stopped(tmp_path: Path) -> None:
    main = write(tmp_path / "loop.p4", '#include "loop.p4"\n')
    with pytest.raises(PreprocessorError) as info:
        preprocess_file(main)
    assert "nested too deeply" in info.value.message


def test_unreadable_top_level_file_is_a_preprocessor_error(tmp_path: Path) -> None:
    with pytest.raises(PreprocessorError) as info:
        preprocess_file(tmp_path / "nope.p4")
    assert "cannot read" in str(info.value)
