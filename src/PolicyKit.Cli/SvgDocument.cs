using System.Globalization;
using System.Text;

namespace PolicyKit.Cli;

/// <summary>The few SVG pieces the CLI's charts share (bench's scatter plot, trace's heat map).</summary>
internal static class SvgDocument
{
    /// <summary>Opens a document of the given size on a white background.</summary>
    public static StringBuilder Begin(int width, int height)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">");
        sb.AppendLine(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>");
        return sb;
    }

    /// <summary>Closes the document and returns its text.</summary>
    public static string End(StringBuilder sb) => sb.AppendLine("</svg>").ToString();

    /// <summary>Text content or attribute value with XML's special characters escaped.</summary>
    public static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&quot;");
}
