using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace PolicyKit.Diffusion.Tokenization;

/// <summary>
/// The pre-tokenizer's Split (behavior "Isolated"): every match of the file's regex is a word, and so is any text
/// between two matches. Written here rather than taken from Microsoft.ML.Tokenizers' RegexPreTokenizer because .NET's
/// <see cref="Regex"/> reads UTF-16 code units: <c>\p{L}</c> / <c>\p{N}</c> never match the two halves of a
/// surrogate pair, and <c>\p{N}{1,3}</c> would count halves, while Hugging Face's regex engine reads code points.
/// So before matching, each code point outside the Basic Multilingual Plane is replaced by one BMP character of
/// the same Unicode general category (<see cref="Representative"/>), and the match boundaries are mapped back.
/// </summary>
internal sealed class CodePointRegexSplitter
{
    private readonly Regex _regex;
    private readonly string _source;

    public CodePointRegexSplitter(Regex regex, string source)
    {
        _regex = regex;
        _source = source;
    }

    /// <summary>
    /// A fixed BMP stand-in per category: a character that is not white space and folds to no ASCII letter, so
    /// that it matches exactly the classes (<c>\p{L}</c>, <c>\s</c>, <c>[^\s\p{L}\p{N}]</c>, ...) the code point does.
    /// </summary>
    internal static char Representative(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter => '\u0416',        // Ж
        UnicodeCategory.LowercaseLetter => '\u0436',        // ж
        UnicodeCategory.TitlecaseLetter => '\u01C5',        // ǅ
        UnicodeCategory.ModifierLetter => '\u02B0',         // ʰ
        UnicodeCategory.OtherLetter => '\u05D0',            // א
        UnicodeCategory.NonSpacingMark => '\u0300',
        UnicodeCategory.SpacingCombiningMark => '\u0903',
        UnicodeCategory.EnclosingMark => '\u20DD',
        UnicodeCategory.DecimalDigitNumber => '\u0660',     // ٠
        UnicodeCategory.LetterNumber => '\u16EE',           // ᛮ
        UnicodeCategory.OtherNumber => '\u00B2',            // ²
        UnicodeCategory.SpaceSeparator => '\u3000',
        UnicodeCategory.LineSeparator => '\u2028',
        UnicodeCategory.ParagraphSeparator => '\u2029',
        UnicodeCategory.Control => '\u0080',
        UnicodeCategory.Format => '\u00AD',                 // soft hyphen
        UnicodeCategory.Surrogate => '\uFFFD',              // not reached: a pair is one code point
        UnicodeCategory.PrivateUse => '\uE000',
        UnicodeCategory.ConnectorPunctuation => '\u203F',   // ‿
        UnicodeCategory.DashPunctuation => '\u2010',        // ‐
        UnicodeCategory.OpenPunctuation => '\u2045',        // ⁅
        UnicodeCategory.ClosePunctuation => '\u2046',       // ⁆
        UnicodeCategory.InitialQuotePunctuation => '\u00AB', // «
        UnicodeCategory.FinalQuotePunctuation => '\u00BB',  // »
        UnicodeCategory.OtherPunctuation => '\u00A1',       // ¡
        UnicodeCategory.MathSymbol => '\u00AC',             // ¬
        UnicodeCategory.CurrencySymbol => '\u00A3',         // £
        UnicodeCategory.ModifierSymbol => '\u02C2',         // ˂
        UnicodeCategory.OtherSymbol => '\u00A6',            // ¦
        _ => '\uFDD0',                                      // a noncharacter: unassigned forever
    };

    /// <summary>The stand-ins, which a pattern must not name itself (it would then match them where it meant the astral code points).</summary>
    internal static IEnumerable<char> Representatives =>
        Enum.GetValues<UnicodeCategory>().Select(Representative).Distinct();

    /// <summary>Appends the words of <paramref name="text"/> (offsets into it) to <paramref name="words"/>.</summary>
    public void Split(ReadOnlySpan<char> text, List<(int Offset, int Length)> words)
    {
        words.Clear();
        if (text.IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            Collect(text, words, map: null);
            return;
        }
        // One char per code point; startOf[k] is where mapped char k starts in the text (startOf[count] = its end).
        var mapped = ArrayPool<char>.Shared.Rent(text.Length);
        var startOf = ArrayPool<int>.Shared.Rent(text.Length + 1);
        try
        {
            var count = 0;
            for (var i = 0; i < text.Length; count++)
            {
                startOf[count] = i;
                if (Rune.DecodeFromUtf16(text[i..], out var rune, out var used) == OperationStatus.Done && used == 2)
                    mapped[count] = Representative(Rune.GetUnicodeCategory(rune));
                else
                    mapped[count] = text[i]; // a BMP character, or a lone surrogate (Encode replaces those first)
                i += used == 0 ? 1 : used;
            }
            startOf[count] = text.Length;
            Collect(mapped.AsSpan(0, count), words, startOf);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(mapped);
            ArrayPool<int>.Shared.Return(startOf);
        }
    }

    private void Collect(ReadOnlySpan<char> text, List<(int Offset, int Length)> words, int[]? map)
    {
        var end = 0;
        foreach (var match in _regex.EnumerateMatches(text))
        {
            if (match.Length == 0)
                throw new TokenizerException(_source, $"the pre-tokenizer's split regex matched the empty string at offset {match.Index}");
            if (match.Index > end) Add(end, match.Index);
            Add(match.Index, match.Index + match.Length);
            end = match.Index + match.Length;
        }
        if (end < text.Length) Add(end, text.Length);

        void Add(int from, int to)
        {
            if (map is not null) (from, to) = (map[from], map[to]);
            words.Add((from, to - from));
        }
    }
}
