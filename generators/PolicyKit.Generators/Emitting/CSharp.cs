using System.Globalization;
using System.Text;

namespace PolicyKit.Generators.Emitting;

/// <summary>Literal and identifier helpers for emitted C#.</summary>
internal static class CSharp
{
    public static string String(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (char.IsControl(c))
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        text.Append(c);
                    break;
            }
        }
        return text.Append('"').ToString();
    }

    public static string Int(int value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A double literal that round-trips ("0.25", "1.0", "-0.5").</summary>
    public static string Double(double value)
    {
        string text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.IndexOfAny(new[] { '.', 'E', 'e' }) >= 0 ? text : text + ".0";
    }

    /// <summary>Text safe inside an XML doc comment.</summary>
    public static string Xml(string value) => value.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");

    /// <summary>"PolicyKit.Policies" → "PolicyKitPolicies"; "my-app.v2" → "MyAppV2": a valid identifier part.</summary>
    public static string Identifier(string text)
    {
        var result = new StringBuilder(text.Length);
        bool upper = true;
        foreach (char c in text)
        {
            if (char.IsLetterOrDigit(c) || c == '_')
            {
                result.Append(upper ? char.ToUpperInvariant(c) : c);
                upper = false;
            }
            else
            {
                upper = true;
            }
        }
        if (result.Length == 0)
            return "Assembly";
        if (char.IsDigit(result[0]))
            result.Insert(0, '_');
        return result.ToString();
    }

    public static string Probe(int probe) => probe switch
    {
        0 => "global::PolicyKit.Probe.Value",
        1 => "global::PolicyKit.Probe.Key",
        2 => "global::PolicyKit.Probe.Input",
        3 => "global::PolicyKit.Probe.AttentionReceived",
        4 => "global::PolicyKit.Probe.Confidence",
        5 => "global::PolicyKit.Probe.CertaintyPrior",
        _ => "(global::PolicyKit.Probe)" + Int(probe),
    };

    public static string ProbeName(int probe) => probe switch
    {
        0 => "Value",
        1 => "Key",
        2 => "Input",
        3 => "AttentionReceived",
        4 => "Confidence",
        5 => "CertaintyPrior",
        _ => Int(probe),
    };
}
