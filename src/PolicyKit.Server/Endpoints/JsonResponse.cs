using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace PolicyKit.Server.Endpoints;

internal static class JsonResponse
{
    /// <summary>Writes <paramref name="body"/> as the whole JSON response with <paramref name="statusCode"/>.</summary>
    public static Task WriteAsync(HttpResponse response, int statusCode, object body)
    {
        response.StatusCode = statusCode;
        response.ContentType = "application/json";
        return response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
