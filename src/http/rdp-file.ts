// A .rdp file that opens the session in Windows Remote Desktop (mstsc), the macOS
// Windows App and Remmina. The password is not in it: mstsc only accepts
// passwords encrypted for the local Windows user, so the client asks for it.

export function rdpFile(host: string, port: number, username: string): string {
  const lines = [
    `full address:s:${host}:${port}`,
    `username:s:${username}`,
    'prompt for credentials:i:1',
    'screen mode id:i:2',
    'use multimon:i:0',
    'desktopwidth:i:1920',
    'desktopheight:i:1080',
    'session bpp:i:32',
    'smart sizing:i:1',
    'dynamic resolution:i:1',
    'compression:i:1',
    'keyboardhook:i:2',
    'audiomode:i:2',
    'redirectclipboard:i:1',
    'redirectprinters:i:0',
    'redirectdrives:i:0',
    // The session's certificate is self-signed; connect and warn rather than refuse.
    'authentication level:i:2',
    'negotiate security layer:i:1',
    'enablecredsspsupport:i:1',
    'autoreconnection enabled:i:1',
  ];
  return `${lines.join('\r\n')}\r\n`;
}
